-- @description midigen: cancel the running job
-- @version 0.1.0
-- @author midigen

-- Stops this project's running job; the bars it wrote are taken out again.
-- The logic is in midigen/ beside this file (see README.md there).
local script = select(2, reaper.get_action_context())
package.path = script:match("^(.*[/\\])") .. "?.lua;" .. package.path
require("midigen.app").cancel()
