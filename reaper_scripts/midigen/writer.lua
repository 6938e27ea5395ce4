--[[
Writes streamed bars into the project, and takes them out again if the job does not finish.

Only the selected tracks and bars are written (plan.region, plan.targets). With one variation
the bars are rewritten in place, in the MIDI item that covers them or a new item made for them;
with K variations each gets a new take of that item (named "midigen 1".."midigen K", the first
made active; made by copying a take's MIDI source in the item chunk, see chunks.lua), so the
alternatives are auditioned the REAPER way, by switching takes.

Each bar is written as it arrives: its old notes removed, the new ones inserted, one MIDI_Sort
for the take, all inside PreventUIRefresh. The notes around the selection follow the project's
writing rule (docs/language.md, "Writing results back"): a kept note that starts before the
selection and still sounds when a new note of its pitch starts is shortened to end there, and a
new note ends where a kept note of its pitch starts after the selection (and at the item's end).
Kept notes are looked for up to LOOKBACK quarter notes before the selection, so a long project
costs no more than a short one; a note held longer than that across the selection keeps its
length. Before an item is first touched its state chunk is
saved: revert() restores those chunks and deletes the items made here, so a failed, timed-out,
cancelled or replaced job leaves the project as it was. commit() closes the job with a single
undo point; the streamed edits before it belong to that point.
]]

local chunks = require("midigen.chunks")
local notes = require("midigen.notes")
local project = require("midigen.project")
local takes = require("midigen.takes")

local Writer = {}
Writer.__index = Writer

local EPS = 1e-6
local DRUM_CHANNEL = 9
local LOOKBACK = 64 -- quarter notes: 16 bars of 4/4
local LOOKAHEAD_NOTES = 512 -- kept notes after the selection read per new note, at most

function Writer.new(proj, plan)
  local self = setmetatable({}, Writer)
  self.proj, self.plan = proj, plan
  self.variations = plan.request.variations
  self.saved = {} -- { item, chunk } in the order first touched
  self.created = {} -- { track, item }
  self.take_of = {} -- "variation:wire track" -> take
  self.ringing = {} -- take -> its notes ringing into the selection (Writer:_ringing)
  self.tracks = {} -- wire track -> { track, item, original or fresh take }
  self.notes_written, self.bars_written = 0, 0
  return self
end

local function find_track(proj, guid)
  for i = 0, reaper.CountTracks(proj) - 1 do
    local track = reaper.GetTrack(proj, i)
    if reaper.GetTrackGUID(track) == guid then
      return track
    end
  end
  return nil
end

-- Removes the notes of `take` that start inside [a, b) (project quarter notes).
local function clear(take, a, b)
  local found = takes.notes_between(take, a - EPS, b - EPS)
  for k = #found, 1, -1 do
    reaper.MIDI_DeleteNote(take, found[k])
  end
end

-- The item that will hold track `wire`'s bars; saves every item it may change first.
function Writer:_prepare_track(wire)
  local entry = self.tracks[wire]
  if entry then
    return entry
  end
  local proj, a, b = self.proj, self.plan.region[1], self.plan.region[2]
  local track = find_track(proj, self.plan.targets[wire])
  if not track then
    return nil
  end
  entry = { track = track }
  local overlapping = {}
  for i = 0, reaper.CountTrackMediaItems(track) - 1 do
    local item = reaper.GetTrackMediaItem(track, i)
    local take = reaper.GetActiveTake(item)
    local ia, ib = project.item_span(proj, item)
    if take and reaper.TakeIsMIDI(take) and ia < b - EPS and ib > a + EPS then
      local _, chunk = reaper.GetItemStateChunk(item, "", false)
      self.saved[#self.saved + 1] = { item = item, chunk = chunk }
      overlapping[#overlapping + 1] = item
      if not entry.item and ia <= a + EPS and ib >= b - EPS then
        entry.item, entry.original = item, take
      end
    end
  end
  if entry.item then
    entry.item_end = select(2, project.item_span(proj, entry.item))
  else
    entry.item_end = b
    entry.item = reaper.CreateNewMIDIItemInProj(track, a, b, true)
    entry.fresh = reaper.GetActiveTake(entry.item)
    self.created[#self.created + 1] = { track = track, item = entry.item }
  end
  if self.variations == 1 then
    for _, item in ipairs(overlapping) do -- the old notes of partly covering items go too
      if item ~= entry.item then
        local take = reaper.GetActiveTake(item)
        clear(take, a, b)
        reaper.MIDI_Sort(take)
      end
    end
  end
  self.tracks[wire] = entry
  return entry
end

-- Gives the item one new take per variation, each a copy of `template`'s MIDI (the
-- original's notes, or the empty new item's); a new item's own take is variation 1.
function Writer:_variation_takes(entry, wire)
  local item, template = entry.item, entry.original or entry.fresh
  local first_new = entry.original and 1 or 2
  local names = {}
  for n = first_new, self.variations do
    names[#names + 1] = "midigen " .. n
  end
  local index = math.floor(reaper.GetMediaItemTakeInfo_Value(template, "IP_TAKENUMBER"))
  local _, chunk = reaper.GetItemStateChunk(item, "", false)
  local source = chunks.take_source(chunk, index)
  local new_chunk = source and chunks.add_takes(chunk, source, names)
  if not new_chunk then
    error("cannot read the item's state chunk to add takes")
  end
  reaper.SetItemStateChunk(item, new_chunk, false)
  local count = reaper.CountTakes(item) -- take handles are read again after the chunk is set
  if not entry.original then
    local own = reaper.GetTake(item, index)
    reaper.GetSetMediaItemTakeInfo_String(own, "P_NAME", "midigen 1", true)
    self.take_of["1:" .. wire] = own
  end
  for k = 1, #names do
    self.take_of[(first_new + k - 1) .. ":" .. wire] = reaper.GetTake(item, count - #names + k - 1)
  end
  reaper.SetActiveTake(self.take_of["1:" .. wire])
end

-- The take variation `v` of track `wire` is written into.
function Writer:_take(v, wire)
  local k = v .. ":" .. wire
  if not self.take_of[k] then
    local entry = self:_prepare_track(wire)
    if not entry then
      return nil
    end
    if self.variations == 1 then
      self.take_of[k] = entry.original or entry.fresh
    else
      self:_variation_takes(entry, wire)
    end
  end
  return self.take_of[k]
end

-- The notes of `take` that start before the selection and still sound at its start, as
-- { index, a, b, pitch } in PPQ. Their indices stay valid while the job writes: every note it
-- deletes or inserts starts inside the selection, after them.
function Writer:_ringing(take)
  if self.ringing[take] then
    return self.ringing[take]
  end
  local a = self.plan.region[1]
  local _, count = reaper.MIDI_CountEvts(take)
  local ppq_a = reaper.MIDI_GetPPQPosFromProjQN(take, a - EPS)
  local oldest = reaper.MIDI_GetPPQPosFromProjQN(take, a - LOOKBACK)
  local out = {}
  for i = takes.first_note_from(take, count, ppq_a) - 1, 0, -1 do
    local _, _, _, start, finish, _, pitch = reaper.MIDI_GetNote(take, i)
    if start < oldest then
      break
    end
    if finish > ppq_a then
      out[#out + 1] = { index = i, a = start, b = finish, pitch = pitch }
    end
  end
  self.ringing[take] = out
  return out
end

-- Where a new note starting at `ppq` must end at the latest: the first kept note of its pitch
-- after the selection.
local function next_kept(take, from_index, count, pitch, ppq, ppq_end)
  for i = from_index, math.min(count, from_index + LOOKAHEAD_NOTES) - 1 do
    local _, _, _, start, _, _, p = reaper.MIDI_GetNote(take, i)
    if start >= ppq_end then
      break
    end
    if p == pitch and start > ppq then
      return start
    end
  end
  return ppq_end
end

--- Writes one streamed bar (a job "bar" event: piece quarter notes) into its take.
function Writer:write_bar(ev)
  local plan = self.plan
  local a, b = plan.region[1], plan.region[2]
  local bar_a = math.max(a, ev.start + plan.origin)
  local bar_b = math.min(b, ev.finish + plan.origin)
  if bar_a >= b or bar_b <= a or not plan.targets[ev.track] then
    return 0 -- outside what the user selected: never written
  end
  reaper.PreventUIRefresh(1)
  local take = self:_take(ev.variation, ev.track)
  if not take then
    reaper.PreventUIRefresh(-1)
    return 0
  end
  clear(take, bar_a, bar_b)
  local channel = plan.piece.tracks[ev.track].drum and DRUM_CHANNEL or 0
  local list = notes.to_project(ev.notes, plan.origin, bar_a, b, self.tracks[ev.track].item_end)
  local ringing = self:_ringing(take)
  local _, count = reaper.MIDI_CountEvts(take)
  local after = takes.first_note_from(take, count, reaper.MIDI_GetPPQPosFromProjQN(take, b - EPS))
  local inserts = {}
  for _, n in ipairs(list) do
    local ppq_a = reaper.MIDI_GetPPQPosFromProjQN(take, n.start)
    local ppq_b = reaper.MIDI_GetPPQPosFromProjQN(take, n.start + n.duration)
    ppq_b = next_kept(take, after, count, n.pitch, ppq_a, ppq_b)
    for _, r in ipairs(ringing) do
      if r.pitch == n.pitch and r.a < ppq_a and r.b > ppq_a then
        r.b = ppq_a
        reaper.MIDI_SetNote(take, r.index, nil, nil, nil, ppq_a, nil, nil, nil, true)
      end
    end
    inserts[#inserts + 1] = { ppq_a, ppq_b, n }
  end
  for _, x in ipairs(inserts) do -- after the reads above: inserting moves later indices
    local n = x[3]
    reaper.MIDI_InsertNote(take, false, false, x[1], x[2], channel, n.pitch, n.velocity, true)
  end
  reaper.MIDI_Sort(take)
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  self.notes_written = self.notes_written + #list
  self.bars_written = self.bars_written + 1
  return #list
end

--- The job finished: one undo point named after it holds everything written.
function Writer:commit()
  reaper.Undo_BeginBlock2(self.proj)
  for _, entry in pairs(self.tracks) do
    reaper.UpdateItemInProject(entry.item)
  end
  reaper.Undo_EndBlock2(self.proj, self.plan.label, -1)
  reaper.UpdateArrange()
end

--- The job did not finish: the project goes back to how it was before the first bar.
function Writer:revert()
  reaper.PreventUIRefresh(1)
  for i = #self.saved, 1, -1 do
    reaper.SetItemStateChunk(self.saved[i].item, self.saved[i].chunk, false)
  end
  for _, c in ipairs(self.created) do
    reaper.DeleteTrackMediaItem(c.track, c.item)
  end
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  self.saved, self.created, self.take_of, self.tracks, self.ringing = {}, {}, {}, {}, {}
end

return Writer
