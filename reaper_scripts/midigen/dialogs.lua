--[[
midigen - Settings.lua: two GetUserInputs dialogs, the job settings (server, variations,
sampling, timeout) and, when tracks are selected, their controls (density, polyphony,
duration, register). Values are checked (settings.lua) before anything is saved; a bad value
is named and nothing changes.
]]

local config = require("midigen.config")
local settings = require("midigen.settings")

local dialogs = {}

local function ask(title, fields, values, check)
  local captions, current = settings.dialog(fields, values)
  local ok, answer = reaper.GetUserInputs(title, #fields, captions .. ",extrawidth=120", current)
  if not ok then
    return nil
  end
  local parsed, why = settings.from_csv(fields, answer)
  if parsed and check then
    why = check(parsed)
    parsed = not why and parsed or nil
  end
  if not parsed then
    reaper.MB(why .. "\nNothing was changed.", "midigen", 0)
  end
  return parsed
end

function dialogs.settings()
  local proj = 0
  local job = ask("midigen: job settings", settings.JOB, config.job(proj))
  if not job then
    return false
  end
  config.save_job(proj, job)
  local selected = {}
  for i = 0, reaper.CountSelectedTracks(proj) - 1 do
    selected[#selected + 1] = reaper.GetSelectedTrack(proj, i)
  end
  if #selected > 0 then
    local first = reaper.GetTrackGUID(selected[1])
    local title = ("midigen: controls of %d selected track(s)"):format(#selected)
    local controls = ask(title, settings.TRACK, config.track(proj, first), settings.check_track)
    if not controls then
      return false
    end
    for _, track in ipairs(selected) do
      config.save_track(proj, reaper.GetTrackGUID(track), controls)
    end
  end
  reaper.ShowConsoleMsg("midigen: settings saved in the project\n")
  return true
end

return dialogs
