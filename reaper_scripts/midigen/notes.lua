--[[
Notes between the project and the wire. A note is { pitch, start, duration, velocity }, times in
quarter notes: project quarter notes in REAPER, piece quarter notes (0 = the first bar sent) on
the wire. Pure: the REAPER layer converts PPQ to project quarter notes with
MIDI_GetProjQNFromPPQPos before anything here sees a note.
]]

local bars = require("midigen.bars")

local notes = {}

-- Notes shorter than this are dropped: the server refuses zero durations.
local MIN_DURATION = 1e-6

--- The notes that start inside [a, b), shifted so that `origin` becomes 0 and cut at b (the
--- server cuts notes ringing past the last bar anyway; cutting here keeps the count honest).
function notes.to_piece(list, origin, a, b)
  local out = {}
  for _, n in ipairs(list) do
    if n.start >= a - 1e-9 and n.start < b then
      local finish = math.min(n.start + n.duration, b)
      if finish - n.start > MIN_DURATION then
        out[#out + 1] = {
          pitch = n.pitch,
          start = math.max(0, n.start - origin),
          duration = finish - n.start,
          velocity = math.max(1, math.min(127, n.velocity)),
        }
      end
    end
  end
  table.sort(out, function(x, y)
    if x.start ~= y.start then
      return x.start < y.start
    end
    return x.pitch < y.pitch
  end)
  return out
end

--- Notes grouped by the bar they start in: { [bar] = { note, ... } }; notes outside every bar
--- are left out.
function notes.by_bar(measures, list)
  local out = {}
  for _, n in ipairs(list) do
    local b = bars.at(measures, n.start)
    if b then
      out[b] = out[b] or {}
      table.insert(out[b], n)
    end
  end
  return out
end

--- Generated notes of one bar, moved from piece to project quarter notes (adding `origin`),
--- kept only if they start inside [a, b): no note ever starts outside the bars the user
--- selected, whatever arrives. They are cut at `limit` (default b): the writer passes the end
--- of the item they go into.
function notes.to_project(list, origin, a, b, limit)
  local out = {}
  for _, n in ipairs(list) do
    local start = n.start + origin
    if start >= a - 1e-9 and start < b then
      local finish = math.min(start + n.duration, limit or b)
      if finish - start > MIN_DURATION then
        out[#out + 1] = {
          pitch = n.pitch,
          start = math.max(start, a),
          duration = finish - math.max(start, a),
          velocity = n.velocity,
        }
      end
    end
  end
  return out
end

--- Splits notes into chunks of at most `size`, for /upload/notes messages.
function notes.chunks(list, size)
  local out = {}
  for i = 1, #list, size do
    out[#out + 1] = table.move(list, i, math.min(i + size - 1, #list), 1, {})
  end
  return out
end

return notes
