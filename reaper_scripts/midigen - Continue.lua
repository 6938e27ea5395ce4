-- @description midigen: continue after the time selection
-- @version 0.1.0
-- @author midigen

-- Writes new bars after the time selection on the selected tracks (as many bars as
-- selected, or the number set in Settings).
-- The logic is in midigen/ beside this file (see README.md there).
local script = select(2, reaper.get_action_context())
package.path = script:match("^(.*[/\\])") .. "?.lua;" .. package.path
require("midigen.app").run("continue")
