-- @description midigen: infill the selected bars of the selected tracks
-- @version 0.1.0
-- @author midigen
-- @about
--   # midigen for REAPER
--   Select bars (time selection) and tracks, run "midigen - Infill selected bars": new bars
--   stream in from a local midigen-server while REAPER keeps playing. Also Continue (new bars
--   after the selection), Loop (seamless loop variations), Cancel and Settings.
--   Needs midigen-server (make serve, or midigen-server --port 9000) and LuaSocket: install
--   "Mavriq Lua Sockets" from https://github.com/mavriq-dev/public-reascripts/raw/master/index.xml

-- Rewrites the time selection's bars (snapped to whole bars) on the selected tracks;
-- the other unmuted tracks with MIDI there are context.
-- The logic is in midigen/ beside this file (see README.md there).
local script = select(2, reaper.get_action_context())
package.path = script:match("^(.*[/\\])") .. "?.lua;" .. package.path
require("midigen.app").run("infill")
