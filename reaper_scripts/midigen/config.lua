--[[
Settings in the project (ExtState section "midigen", saved in the .rpp) and the few values
several running scripts share while REAPER runs (global ExtState, not saved): which job is
live for this project's client, and cancel requests.
]]

local settings = require("midigen.settings")

local config = {}

config.SECTION = "midigen"

local function get(proj, key)
  local ok, value = reaper.GetProjExtState(proj, config.SECTION, key)
  if ok == 0 or value == "" then
    return nil
  end
  return value
end

function config.job(proj)
  return settings.load(settings.JOB, function(key) return get(proj, key) end)
end

function config.save_job(proj, values)
  for _, f in ipairs(settings.JOB) do
    reaper.SetProjExtState(proj, config.SECTION, f.key, tostring(values[f.key]))
  end
end

function config.track(proj, guid)
  return settings.decode_track(get(proj, "track:" .. guid))
end

function config.save_track(proj, guid, values)
  reaper.SetProjExtState(proj, config.SECTION, "track:" .. guid, settings.encode_track(values))
end

--- The project's client id for protocol 2: made once at random ("rpr" and 16 hex digits,
--- 64 bits) and kept in the project, so a reopened project is the same client.
function config.client_id(proj)
  local id = get(proj, "client_id")
  if id and id:match("^%a[%w_%-]+$") and #id >= 8 and #id <= 64 then
    return id
  end
  id = ("rpr%08x%08x"):format(math.random(0, 0xffffffff), math.random(0, 0xffffffff))
  reaper.SetProjExtState(proj, config.SECTION, "client_id", id)
  return id
end

-- Shared between running scripts (global ExtState, not persisted).
function config.shared(key)
  local value = reaper.GetExtState(config.SECTION, key)
  return value ~= "" and value or nil
end

function config.share(key, value)
  if value == nil then
    reaper.DeleteExtState(config.SECTION, key, false)
  else
    reaper.SetExtState(config.SECTION, key, tostring(value), false)
  end
end

return config
