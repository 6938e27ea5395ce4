--[[
From what the user selected to what is sent and where the answer goes. Pure: project.lua reads
the REAPER project into a snapshot, and this module turns it into the piece to upload, the
/generate request, the REAPER tracks the wire's track numbers stand for, and the span of
project quarter notes that may be written.

snapshot = {
  measures = { {start, finish, num, den}, ... } (bars 1.. as REAPER shows them),
  first, last = the selected bars, content_bars = the last bar with notes in any track,
  tempo = BPM at the window's start,
  tracks = { {guid, name, program, drum, selected, notes = { {pitch, start, duration,
             velocity} } (project quarter notes)}, ... } in project order,
}
]]

local bars = require("midigen.bars")
local notes = require("midigen.notes")

local plan = {}

plan.MAX_TRACKS = 32
plan.MAX_BARS = 512
plan.MAX_NEW_BARS = 64
plan.MAX_NOTES = 20000 -- per uploaded piece

local CONTROLS = { "density", "poly_min", "poly_max", "dur_min", "dur_max", "pitch_min", "pitch_max" }

local function has_notes_in(list, a, b)
  for _, n in ipairs(list) do
    if n.start >= a and n.start < b then
      return true
    end
  end
  return false
end

--- The plan for `mode` ("infill", "continue" or "loop"), or nil and a message for the user.
--- `cfg` holds the job settings and `track_cfg[guid]` each track's controls.
function plan.build(snapshot, mode, cfg, track_cfg)
  local m, first, last = snapshot.measures, snapshot.first, snapshot.last
  local new_bars = 0
  if mode == "continue" then
    new_bars = cfg.continue_bars > 0 and cfg.continue_bars or (last - first + 1)
    if new_bars > plan.MAX_NEW_BARS then
      return nil, ("continue writes at most %d bars; select fewer or set the number in Settings"):format(plan.MAX_NEW_BARS)
    end
    if #m < last + new_bars then
      return nil, "the project's bars end before the continuation"
    end
  end
  -- Continue sends the bars up to the selection's end; the others send context after it too.
  local content = mode == "continue" and last or math.max(snapshot.content_bars or last, last)
  local lo, hi = bars.window(first, last, cfg.context, content, plan.MAX_BARS)
  local origin = m[lo].start
  local a, b = m[lo].start, m[hi].finish

  local chosen, targets = {}, {}
  for _, t in ipairs(snapshot.tracks) do
    if t.selected then
      chosen[#chosen + 1] = t
    end
  end
  if #chosen == 0 then
    return nil, "no track is selected: select the tracks to write"
  end
  if #chosen > plan.MAX_TRACKS then
    return nil, ("%d tracks are selected; the server takes %d"):format(#chosen, plan.MAX_TRACKS)
  end
  for _, t in ipairs(snapshot.tracks) do
    if not t.selected and not t.muted and #chosen < plan.MAX_TRACKS and has_notes_in(t.notes, a, b) then
      chosen[#chosen + 1] = t
    end
  end
  -- Wire order is project order, so track numbers read like the mixer.
  local order = {}
  for i, t in ipairs(snapshot.tracks) do
    order[t] = i
  end
  table.sort(chosen, function(x, y) return order[x] < order[y] end)

  local piece = { bars = hi - lo + 1, tempo = snapshot.tempo, meters = bars.meters(m, lo, hi), tracks = {} }
  local total = 0
  for _, t in ipairs(chosen) do
    total = total + #notes.to_piece(t.notes, origin, a, b)
  end
  if total > plan.MAX_NOTES then
    return nil, ("bars %d-%d hold %d notes and the server takes %d: select fewer bars or tracks, or set fewer context bars in Settings")
      :format(lo, hi, total, plan.MAX_NOTES)
  end
  local selections = {}
  local write_first, write_last = first - lo + 1, last - lo + 1
  if mode == "continue" then
    write_first, write_last = piece.bars + 1, piece.bars + new_bars
  end
  for i, t in ipairs(chosen) do
    piece.tracks[i] = { name = t.name, program = t.program, drum = t.drum, notes = notes.to_piece(t.notes, origin, a, b) }
    if t.selected then
      targets[i] = t.guid
      local s = { track = i, first = write_first, last = write_last }
      local controls = track_cfg[t.guid] or {}
      for _, key in ipairs(CONTROLS) do
        local v = controls[key]
        s[key] = (v ~= nil and v >= 0) and v or nil
      end
      selections[#selections + 1] = s
    end
  end

  local bar_first, bar_last = first, last
  if mode == "continue" then
    bar_first, bar_last = last + 1, last + new_bars
  end
  local verb = ({ infill = "infill", continue = "continue", loop = "loop" })[mode]
  return {
    mode = mode,
    piece = piece,
    request = { mode = mode, variations = cfg.variations, temperature = cfg.temperature,
      top_p = cfg.top_p, seed = cfg.seed, velocity = true, microtiming = false, selections = selections },
    targets = targets, -- wire track -> REAPER track GUID
    origin = origin, -- project quarter note of piece time 0
    region = { m[bar_first].start, m[bar_last].finish }, -- what may be written, project QN
    first = bar_first,
    last = bar_last,
    label = ("midigen: %s %s"):format(verb, bars.label(bar_first, bar_last)),
  }
end

return plan
