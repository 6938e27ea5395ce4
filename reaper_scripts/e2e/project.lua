-- The project the end-to-end specs run the scripts on: 8 bars of 4/4 (a tempo change at bar
-- 5), then 4 bars of 3/4; a selected piano, a bass named with its program, a drum track on
-- channel 10 and a muted pad, each with notes in every bar.
local Fake = require("spec.fake.reaper")

local project = {}

project.PORT = tonumber(os.getenv("MIDIGEN_TEST_PORT") or "")

local function pattern(bars, per_bar, pitches, chan)
  local notes = {}
  for _, bar in ipairs(bars) do
    local a, len = bar[1], bar[2]
    local step = len / per_bar
    for k = 0, per_bar - 1 do
      for _, p in ipairs(pitches) do
        notes[#notes + 1] = { a + k * step, a + (k + 0.5) * step, p + (k % 2) * 2, 90, chan }
      end
    end
  end
  return notes
end

local function bar_list()
  local out = {}
  for b = 0, 7 do
    out[#out + 1] = { b * 4, 4 }
  end
  for b = 0, 3 do
    out[#out + 1] = { 32 + b * 3, 3 }
  end
  return out
end

--- A fresh fake project; `selection` = { first_qn, end_qn }, `settings` = project ExtState.
function project.new(selection, settings, answers)
  local bars = bar_list()
  local fake = Fake.new({
    markers = {
      { qn = 0, bpm = 100, num = 4, den = 4 },
      { qn = 16, bpm = 130, num = 4, den = 4 },
      { qn = 32, bpm = 130, num = 3, den = 4 },
    },
    selection = selection,
    answers = answers,
    tracks = {
      { name = "Piano", selected = true, items = { { start_qn = 0, end_qn = 44, takes = { { notes = pattern(bars, 2, { 60, 64, 67 }) } } } } },
      { name = "Bass [p33]", items = { { start_qn = 0, end_qn = 44, takes = { { notes = pattern(bars, 4, { 36 }) } } } } },
      { name = "Drums", items = { { start_qn = 0, end_qn = 44, takes = { { notes = pattern(bars, 4, { 36, 42 }, 9) } } } } },
      { name = "Pad", muted = true, items = { { start_qn = 0, end_qn = 44, takes = { { notes = pattern(bars, 1, { 48, 55 }) } } } } },
    },
  })
  fake.project_ext["midigen/port"] = tostring(project.PORT)
  fake.project_ext["midigen/seed"] = "7"
  fake.project_ext["midigen/timeout"] = "60"
  for k, v in pairs(settings or {}) do
    fake.project_ext["midigen/" .. k] = tostring(v)
  end
  return fake
end

--- Notes as comparable strings, for "nothing changed" checks.
function project.fingerprint(fake, track, all_takes)
  local out = {}
  for _, n in ipairs(fake:notes(track, all_takes)) do
    out[#out + 1] = ("%d/%d %.4f-%.4f p%d v%d c%d"):format(n.item, n.take, n.start, n.finish, n.pitch, n.vel, n.chan)
  end
  return table.concat(out, "\n")
end

--- The notes of `track` inside [a, b) or outside it, as fingerprints.
function project.split(fake, track, a, b)
  local inside, outside = {}, {}
  for _, n in ipairs(fake:notes(track)) do
    local line = ("%.4f %.4f p%d"):format(n.start, n.finish, n.pitch)
    if n.start >= a and n.start < b then
      inside[#inside + 1] = line
    else
      outside[#outside + 1] = line
    end
  end
  return inside, outside
end

return project
