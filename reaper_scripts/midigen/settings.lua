--[[
The settings the user can change, their defaults and ranges, and their text form. Pure: the
REAPER layer stores the text in project ExtState (section "midigen"), so settings travel with
the .rpp; job-wide ones under their own keys, per-track controls under "track:<GUID>".
]]

local settings = {}

-- kind: "int", "number" or "string"; lo/hi: the accepted range.
settings.JOB = {
  { key = "host", default = "127.0.0.1", kind = "string", label = "Server host" },
  { key = "port", default = 9000, kind = "int", lo = 1, hi = 65535, label = "Server port" },
  { key = "variations", default = 1, kind = "int", lo = 1, hi = 16, label = "Variations (takes)" },
  { key = "temperature", default = 1.0, kind = "number", lo = 0, hi = 10, label = "Temperature (0 greedy)" },
  { key = "top_p", default = 0.95, kind = "number", lo = 0.01, hi = 1, label = "Top-p (1 off)" },
  { key = "seed", default = -1, kind = "int", lo = -1, hi = 2147483647, label = "Seed (-1 random)" },
  { key = "context", default = 8, kind = "int", lo = 0, hi = 64, label = "Context bars each side" },
  { key = "continue_bars", default = 0, kind = "int", lo = 0, hi = 64, label = "Continue: bars (0 = as selected)" },
  { key = "timeout", default = 300, kind = "number", lo = 0.01, hi = 3600, label = "Timeout (s)" },
  { key = "server_command", default = "midigen-server --port 9000", kind = "string", label = "Server command" },
  { key = "start_wait", default = 30, kind = "number", lo = 1, hi = 600, label = "Wait for a started server (s)" },
}

settings.TRACK = {
  { key = "density", default = -1, kind = "int", lo = -1, hi = 10, label = "Density 1-10 (-1 any)" },
  { key = "poly_min", default = -1, kind = "int", lo = -1, hi = 10, label = "Polyphony min (-1 any)" },
  { key = "poly_max", default = -1, kind = "int", lo = -1, hi = 10, label = "Polyphony max (-1 any)" },
  { key = "dur_min", default = -1, kind = "int", lo = -1, hi = 5, label = "Duration min 0-5 (-1 any)" },
  { key = "dur_max", default = -1, kind = "int", lo = -1, hi = 5, label = "Duration max 0-5 (-1 any)" },
  -- The register: the MIDI notes written notes stay within.
  { key = "pitch_min", default = -1, kind = "int", lo = -1, hi = 127, label = "Lowest pitch 0-127 (-1 any)" },
  { key = "pitch_max", default = -1, kind = "int", lo = -1, hi = 127, label = "Highest pitch 0-127 (-1 any)" },
}

--- One value from text, or nil and a message naming the setting and its range.
function settings.parse(field, text)
  text = tostring(text or ""):match("^%s*(.-)%s*$")
  if field.kind == "string" then
    if text == "" and field.key ~= "server_command" then
      return nil, field.label .. " must not be empty"
    end
    return text
  end
  local n = tonumber(text)
  if field.kind == "int" then
    n = n and math.tointeger(n)
  end
  if n == nil or n ~= n or n < field.lo or n > field.hi then
    local what = field.kind == "int" and "a whole number" or "a number"
    return nil, ("%s must be %s from %s to %s, got '%s'"):format(field.label, what, field.lo, field.hi, text)
  end
  return n
end

--- Values for every field: stored text where valid, defaults elsewhere. `get(key)` returns
--- the stored text or nil.
function settings.load(fields, get)
  local out = {}
  for _, f in ipairs(fields) do
    local stored = get(f.key)
    local value = stored and stored ~= "" and settings.parse(f, stored)
    if value == nil or value == false then
      value = f.default
    end
    out[f.key] = value
  end
  return out
end

--- Values from a comma-separated GetUserInputs answer, all or nothing.
function settings.from_csv(fields, csv)
  local parts = {}
  for part in (csv .. ","):gmatch("([^,]*),") do
    parts[#parts + 1] = part
  end
  if #parts ~= #fields then
    return nil, ("expected %d values, got %d (commas are not allowed inside a value)"):format(#fields, #parts)
  end
  local out = {}
  for i, f in ipairs(fields) do
    local value, err = settings.parse(f, parts[i])
    if value == nil then
      return nil, err
    end
    out[f.key] = value
  end
  return out
end

--- The GetUserInputs captions ("a,b,c") and current values ("1,2,3") for `fields`.
function settings.dialog(fields, values)
  local captions, current = {}, {}
  for i, f in ipairs(fields) do
    captions[i] = f.label
    current[i] = tostring(values[f.key])
  end
  return table.concat(captions, ","), table.concat(current, ",")
end

-- Pairs of track controls that must not cross, when both are set.
local PAIRS = { { "poly_min", "poly_max" }, { "dur_min", "dur_max" }, { "pitch_min", "pitch_max" } }

--- nil when the track controls are consistent, else a message naming the crossed pair.
function settings.check_track(values)
  for _, pair in ipairs(PAIRS) do
    local lo, hi = values[pair[1]], values[pair[2]]
    if lo and hi and lo >= 0 and hi >= 0 and lo > hi then
      return ("%s (%d) is above %s (%d)"):format(pair[1], lo, pair[2], hi)
    end
  end
  return nil
end

--- Per-track controls as stored text "density=5 poly_max=3" and back.
function settings.encode_track(values)
  local out = {}
  for _, f in ipairs(settings.TRACK) do
    out[#out + 1] = f.key .. "=" .. tostring(values[f.key] or f.default)
  end
  return table.concat(out, " ")
end

function settings.decode_track(text)
  local stored = {}
  for k, v in tostring(text or ""):gmatch("([%w_]+)=(%S+)") do
    stored[k] = v
  end
  return settings.load(settings.TRACK, function(k) return stored[k] end)
end

return settings
