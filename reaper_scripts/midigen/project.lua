--[[
Reads the REAPER project into the snapshot plan.lua works on: the measures, the selected bars,
and every track's notes in project quarter notes. This and writer.lua are the only modules
that call reaper.* for project data.

Instruments: a track's program is its first program change (in its first MIDI take that has
one); without one, a "[pNN]" tag in the track name (GM program NN, 0-127) sets it. A track is
drums when its notes are on MIDI channel 10, or its name has "[drums]".
]]

local bars = require("midigen.bars")

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

-- The notes of a take inside its item's visible span, in project quarter notes, plus its
-- first program change and whether its notes are on the drum channel.
local function read_take(take, item_a, item_b)
  local list, drum_notes, program = {}, 0, nil
  local _, note_count, cc_count = reaper.MIDI_CountEvts(take)
  for i = 0, note_count - 1 do
    local _, _, muted, ppq_a, ppq_b, chan, pitch, vel = reaper.MIDI_GetNote(take, i)
    local start = reaper.MIDI_GetProjQNFromPPQPos(take, ppq_a)
    local finish = math.min(reaper.MIDI_GetProjQNFromPPQPos(take, ppq_b), item_b)
    if not muted and start >= item_a and start < item_b and finish > start then
      list[#list + 1] = { pitch = pitch, start = start, duration = finish - start, velocity = vel }
      if chan == DRUM_CHANNEL then
        drum_notes = drum_notes + 1
      end
    end
  end
  for i = 0, cc_count - 1 do
    local _, _, _, _, chanmsg, _, msg2 = reaper.MIDI_GetCC(take, i)
    if chanmsg == PROGRAM_CHANGE then
      program = msg2
      break
    end
  end
  return list, program, #list > 0 and drum_notes * 2 > #list
end

--- Start and end of an item in project quarter notes.
function project.item_span(proj, item)
  local pos = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local len = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  return reaper.TimeMap2_timeToQN(proj, pos), reaper.TimeMap2_timeToQN(proj, pos + len)
end

local function read_track(proj, track, index)
  local _, name = reaper.GetTrackName(track)
  local t = {
    guid = reaper.GetTrackGUID(track),
    name = name,
    index = index,
    selected = reaper.IsTrackSelected(track),
    muted = reaper.GetMediaTrackInfo_Value(track, "B_MUTE") == 1,
    notes = {},
    program = 0,
    drum = false,
  }
  local program, drum_takes = nil, 0
  for i = 0, reaper.CountTrackMediaItems(track) - 1 do
    local item = reaper.GetTrackMediaItem(track, i)
    local take = reaper.GetActiveTake(item)
    if take and reaper.TakeIsMIDI(take) and reaper.GetMediaItemInfo_Value(item, "B_MUTE") ~= 1 then
      local a, b = project.item_span(proj, item)
      local list, take_program, drum = read_take(take, a, b)
      table.move(list, 1, #list, #t.notes + 1, t.notes)
      program = program or take_program
      drum_takes = drum_takes + (drum and 1 or 0)
    end
  end
  local tagged = tonumber(name:match("%[[pP](%d+)%]"))
  t.program = math.max(0, math.min(127, program or tagged or 0))
  t.drum = drum_takes > 0 or name:lower():find("[drums]", 1, true) ~= nil
  return t
end

--- The snapshot for plan.build, or nil and a message for the user. Bars come from the time
--- selection, widened to whole bars (`snapped` says whether that changed it).
function project.snapshot(proj, mode, extra_bars)
  local t0, t1 = reaper.GetSet_LoopTimeRange2(proj, false, false, 0, 0, false)
  local a, b = reaper.TimeMap2_timeToQN(proj, t0), reaper.TimeMap2_timeToQN(proj, t1)
  if t1 - t0 <= 0 then
    return nil, "the time selection is empty: select the bars to " .. mode .. " first"
  end
  local tracks, content_qn = {}, 0
  for i = 0, reaper.CountTracks(proj) - 1 do
    local t = read_track(proj, reaper.GetTrack(proj, i), i + 1)
    tracks[#tracks + 1] = t
    for _, n in ipairs(t.notes) do
      content_qn = math.max(content_qn, n.start)
    end
  end
  local measures = project.measures(proj, math.max(content_qn, b), extra_bars or 0)
  local first, last, snapped = bars.snap(measures, a, b)
  if not first then
    return nil, last
  end
  local num, den, tempo = reaper.TimeMap_GetTimeSigAtTime(proj, t0)
  return {
    measures = measures,
    first = first,
    last = last,
    snapped = snapped,
    content_bars = bars.at(measures, content_qn) or last,
    tempo = math.max(20, math.min(400, tempo)),
    meter = { num, den },
    tracks = tracks,
  }
end

return project
