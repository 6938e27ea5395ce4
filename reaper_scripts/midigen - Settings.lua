-- @description midigen: settings (server, sampling, per-track controls)
-- @version 0.1.0
-- @author midigen

-- Job settings, and the controls of the selected tracks, saved in the project.
-- The logic is in midigen/ beside this file (see README.md there).
local script = select(2, reaper.get_action_context())
package.path = script:match("^(.*[/\\])") .. "?.lua;" .. package.path
require("midigen.dialogs").settings()
