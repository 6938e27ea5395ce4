--[[
Reads the REAPER project into the snapshot plan.lua works on: the measures, the selected bars,
and every track's notes in project quarter notes. This and writer.lua are the only modules
that call reaper.* for project data.

Instruments: a track's program is its first program change (in its first MIDI take that has
one); without one, a "[pNN]" tag in the track name (GM program NN, 0-127) sets it. A track is
drums when most of a take's first notes are on MIDI channel 10, or its name has "[drums]".

Only the notes near the selection are read (takes.lua finds them by binary search), so a long
project does not make the action slow to return.
]]

local bars = require("midigen.bars")
local takes = require("midigen.takes")

local project = {}

local PROGRAM_CHANGE = 0xC0
local DRUM_CHANNEL = 9 -- channel 10, counted from 0 as the API does

--- Measures 1.. as { start, finish, num, den } in project quarter notes: every bar up to the
--- one containing quarter note `qn`, then `extra` more.
function project.measures(proj, qn, extra)
  local out = {}
  repeat
    local _, start, finish, num, den = reaper.TimeMap_GetMeasureInfo(proj, #out)
    out[#out + 1] = { start = start, finish = finish, num = num, den = den }
  until finish > qn
  for _ = 1, extra do
    local _, start, finish, num, den = reaper.TimeMap_GetMeasureInfo(proj, #out)
    out[#out + 1] = { start = start, finish = finish, num = num, den = den }
  end
  return out
end

-- Drums: most of the take's first notes are on channel 10.
local function on_drum_channel(take, count)
  local n, drums = math.min(count, 32), 0
  for i = 0, n - 1 do
    local _, _, _, _, _, chan = reaper.MIDI_GetNote(take, i)
    drums = drums + (chan == DRUM_CHANNEL and 1 or 0)
  end
  return n > 0 and drums * 2 > n
end

-- The take's first program change among its first 256 CC events (program changes sit at the
-- start; a take dense with controller data is not scanned to its end).
local function first_program(take, cc_count)
  for i = 0, math.min(cc_count, 256) - 1 do
    local _, _, _, _, chanmsg, _, msg2 = reaper.MIDI_GetCC(take, i)
    if chanmsg == PROGRAM_CHANGE then
      return msg2
    end
  end
  return nil
end

-- The unmuted notes of a take that start inside [a, b) (project quarter notes, already within
-- the item), cut at b. Only that span is read, however long the take.
local function read_notes(take, a, b)
  local list = {}
  for _, i in ipairs(takes.notes_between(take, a, b)) do
    local _, _, muted, ppq_a, ppq_end, _, pitch, vel = reaper.MIDI_GetNote(take, i)
    local start = reaper.MIDI_GetProjQNFromPPQPos(take, ppq_a)
    local finish = math.min(reaper.MIDI_GetProjQNFromPPQPos(take, ppq_end), b)
    if not muted and finish > start then
      list[#list + 1] = { pitch = pitch, start = start, duration = finish - start, velocity = vel }
    end
  end
  return list
end

--- Start and end of an item in project quarter notes.
function project.item_span(proj, item)
  local pos = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local len = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  return reaper.TimeMap2_timeToQN(proj, pos), reaper.TimeMap2_timeToQN(proj, pos + len)
end

-- A track's MIDI items (active take, unmuted) as { take, a, b } spans in quarter notes.
local function midi_items(proj, track)
  local out = {}
  for i = 0, reaper.CountTrackMediaItems(track) - 1 do
    local item = reaper.GetTrackMediaItem(track, i)
    local take = reaper.GetActiveTake(item)
    if take and reaper.TakeIsMIDI(take) and reaper.GetMediaItemInfo_Value(item, "B_MUTE") ~= 1 then
      local a, b = project.item_span(proj, item)
      out[#out + 1] = { take = take, a = a, b = b }
    end
  end
  return out
end

-- A track with its notes inside [a, b) and its instrument.
local function read_track(track, items, a, b)
  local _, name = reaper.GetTrackName(track)
  local t = {
    guid = reaper.GetTrackGUID(track),
    name = name,
    selected = reaper.IsTrackSelected(track),
    muted = reaper.GetMediaTrackInfo_Value(track, "B_MUTE") == 1,
    notes = {},
  }
  local program, drum = nil, false
  for _, it in ipairs(items) do
    local _, note_count, cc_count = reaper.MIDI_CountEvts(it.take)
    program = program or first_program(it.take, cc_count)
    drum = drum or on_drum_channel(it.take, note_count)
    if it.a < b and it.b > a then
      local list = read_notes(it.take, math.max(a, it.a), math.min(b, it.b))
      table.move(list, 1, #list, #t.notes + 1, t.notes)
    end
  end
  local tagged = tonumber(name:match("%[[pP](%d+)%]"))
  t.program = math.max(0, math.min(127, program or tagged or 0))
  t.drum = drum or name:lower():find("[drums]", 1, true) ~= nil
  return t
end

--- The snapshot for plan.build, or nil and a message for the user. Bars come from the time
--- selection, widened to whole bars (`snapped` says whether that changed it); notes are read
--- only within `context` bars of it, and measures `extra` bars past the content.
function project.snapshot(proj, mode, context, extra)
  local t0, t1 = reaper.GetSet_LoopTimeRange2(proj, false, false, 0, 0, false)
  if t1 - t0 <= 0 then
    return nil, "the time selection is empty: select the bars to " .. mode .. " first"
  end
  local a, b = reaper.TimeMap2_timeToQN(proj, t0), reaper.TimeMap2_timeToQN(proj, t1)
  local tracks, items, content_qn = {}, {}, 0
  for i = 0, reaper.CountTracks(proj) - 1 do
    tracks[i + 1] = reaper.GetTrack(proj, i)
    items[i + 1] = midi_items(proj, tracks[i + 1])
    for _, it in ipairs(items[i + 1]) do
      content_qn = math.max(content_qn, it.b - bars.EPSILON)
    end
  end
  local measures = project.measures(proj, math.max(content_qn, b), extra)
  local first, last, snapped = bars.snap(measures, a, b)
  if not first then
    return nil, last
  end
  local lo, hi = math.max(1, first - context), math.min(#measures, last + context)
  local read_a, read_b = measures[lo].start, measures[hi].finish
  for i, track in ipairs(tracks) do
    tracks[i] = read_track(track, items[i], read_a, read_b)
  end
  local _, _, tempo = reaper.TimeMap_GetTimeSigAtTime(proj, t0)
  return {
    measures = measures,
    first = first,
    last = last,
    snapped = snapped,
    content_bars = bars.at(measures, content_qn) or last,
    tempo = math.max(20, math.min(400, tempo)),
    tracks = tracks,
  }
end

return project
