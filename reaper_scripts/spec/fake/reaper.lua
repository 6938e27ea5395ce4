--[[
A fake REAPER for running the real scripts under plain lua5.4: a project with a tempo and meter
map (timemap.lua), tracks, items, MIDI takes with PPQ positions, notes and CCs, a time
selection, ExtState, undo blocks and a defer queue the harness drives.

It implements the ReaScript calls the scripts make, with REAPER's argument and return
conventions, and nothing else: calling anything else raises, so a script that starts using a
new call fails here until the fake learns it. It also enforces what REAPER expects: a take
written with noSort must be sorted before the tick ends, PreventUIRefresh and undo blocks
must be balanced.
]]

local timemap = require("spec.fake.timemap")

local Fake = {}
Fake.__index = Fake

local PPQ = 960

local function copy(t)
  if type(t) ~= "table" then
    return t
  end
  local out = {}
  for k, v in pairs(t) do
    out[k] = copy(v)
  end
  return out
end

local function sort_take(take)
  table.sort(take.notes, function(a, b)
    if a.ppq_a ~= b.ppq_a then
      return a.ppq_a < b.ppq_a
    end
    return a.pitch < b.pitch
  end)
  table.sort(take.ccs, function(a, b) return a.ppq < b.ppq end)
  take.unsorted = false
end

-- What REAPER does after a note edit: sort now, or mark the take unsorted until MIDI_Sort.
local function sorted_unless(take, no_sort)
  if no_sort then
    take.unsorted = true
  else
    sort_take(take)
  end
  return true
end

--- spec = { markers = {...}, selection = {a_qn, b_qn}, tracks = { {name, selected, muted,
--- items = { {start_qn, end_qn, muted, takes = { {notes = { {start, finish, pitch, vel,
--- chan} }, ccs = { {qn, chanmsg, chan, msg2, msg3} } } } } } } } }, answers = { MB = {...},
--- inputs = {...} } }
function Fake.new(spec)
  local self = setmetatable({}, Fake)
  self.map = timemap.new(spec.markers or { { qn = 0, bpm = 120, num = 4, den = 4 } })
  self.selection = spec.selection or { 0, 0 }
  self.tracks = {}
  self.global_ext, self.project_ext = {}, {}
  self.at_exit = {}
  self.deferred, self.console, self.alerts, self.undo, self.inserts, self.exec = {}, {}, {}, {}, {}, {}
  self.answers = spec.answers or {}
  self.tick, self.ui_refresh, self.undo_open, self.guids = 0, 0, false, 0
  self.resource_path = spec.resource_path or "/nonexistent/REAPER"
  for _, t in ipairs(spec.tracks or {}) do
    local track = self:add_track(t.name, t.selected, t.muted)
    for _, it in ipairs(t.items or {}) do
      local item = self:add_item(track, it.start_qn, it.end_qn)
      item.muted = it.muted
      item.takes = {}
      for _, tk in ipairs(it.takes or { {} }) do
        local take = { item = item, notes = {}, ccs = {}, name = "", midi = true }
        for _, n in ipairs(tk.notes or {}) do
          take.notes[#take.notes + 1] = { ppq_a = (n[1] - it.start_qn) * PPQ, ppq_b = (n[2] - it.start_qn) * PPQ,
            pitch = n[3], vel = n[4] or 100, chan = n[5] or 0, muted = false, selected = false }
        end
        for _, c in ipairs(tk.ccs or {}) do
          take.ccs[#take.ccs + 1] = { ppq = (c[1] - it.start_qn) * PPQ, chanmsg = c[2], chan = c[3], msg2 = c[4], msg3 = c[5] }
        end
        sort_take(take)
        item.takes[#item.takes + 1] = take
      end
      item.active = 1
    end
  end
  return self
end

function Fake:add_track(name, selected, muted)
  self.guids = self.guids + 1
  local track = { name = name or "", selected = selected or false, muted = muted or false, items = {},
    guid = ("{00000000-0000-0000-0000-%012d}"):format(self.guids) }
  self.tracks[#self.tracks + 1] = track
  return track
end

function Fake:add_item(track, start_qn, end_qn)
  local item = { track = track, start_qn = start_qn, end_qn = end_qn, takes = {}, active = 1 }
  track.items[#track.items + 1] = item
  return item
end

--- Every note of a track's active takes as { start, finish, pitch, vel } in project QN,
--- sorted; `all_takes` lists every take of every item instead.
function Fake:notes(track_index, all_takes)
  local out = {}
  for i, item in ipairs(self.tracks[track_index].items) do
    for k, take in ipairs(item.takes) do
      if all_takes or k == item.active then
        for _, n in ipairs(take.notes) do
          out[#out + 1] = { item = i, take = k, start = item.start_qn + n.ppq_a / PPQ, finish = item.start_qn + n.ppq_b / PPQ,
            pitch = n.pitch, vel = n.vel, chan = n.chan }
        end
      end
    end
  end
  table.sort(out, function(a, b)
    if a.start ~= b.start then
      return a.start < b.start
    end
    return a.pitch < b.pitch
  end)
  return out
end

--- Raises if a tick left REAPER in a state it does not allow.
function Fake:check_tick()
  for _, track in ipairs(self.tracks) do
    for _, item in ipairs(track.items) do
      for _, take in ipairs(item.takes) do
        assert(not take.unsorted, "a take was left unsorted at the end of a tick (MIDI_Sort missing)")
      end
    end
  end
  assert(self.ui_refresh == 0, "PreventUIRefresh is unbalanced at the end of a tick")
  assert(not self.undo_open, "an undo block is still open at the end of a tick")
end

-- Item state chunks in REAPER's layout (see midigen/chunks.lua), with the MIDI events as
-- FAKENOTE/FAKECC lines. Each source has a GUID and a POOLEDEVTS id; a chunk that gives two
-- sources of one item the same pool raises, as pooled copies would share their notes.
function Fake:new_id()
  self.ids = (self.ids or 0) + 1
  return ("{%08X-0000-4000-8000-000000000000}"):format(self.ids)
end

function Fake:item_chunk(item)
  local out = { "<ITEM", "POSITION " .. item.start_qn, "LENGTH " .. (item.end_qn - item.start_qn) }
  for i, take in ipairs(item.takes) do
    if i > 1 then
      out[#out + 1] = i == item.active and "TAKE SEL" or "TAKE"
    end
    out[#out + 1] = ('NAME "%s"'):format(take.name)
    if not take.midi then
      table.move({ "<SOURCE EMPTY", ">" }, 1, 2, #out + 1, out)
    else
      take.pool = take.pool or self:new_id()
      take.guid = take.guid or self:new_id()
      table.move({ "<SOURCE MIDI", "HASDATA 1 960 QN", "POOLEDEVTS " .. take.pool }, 1, 3, #out + 1, out)
      for _, n in ipairs(take.notes) do
        out[#out + 1] = ("FAKENOTE %.17g %.17g %d %d %d %s %s"):format(n.ppq_a, n.ppq_b, n.chan, n.pitch, n.vel,
          tostring(n.muted), tostring(n.selected))
      end
      for _, c in ipairs(take.ccs) do
        out[#out + 1] = ("FAKECC %.17g %d %d %d %d"):format(c.ppq, c.chanmsg, c.chan, c.msg2, c.msg3)
      end
      table.move({ "GUID " .. take.guid, ">" }, 1, 2, #out + 1, out)
    end
  end
  out[#out + 1] = ">"
  return table.concat(out, "\n") .. "\n"
end

function Fake:set_item_chunk(item, chunk)
  local takes, active, take, pools = {}, 1, nil, {}
  for line in chunk:gmatch("[^\n]+") do
    line = line:match("^%s*(.-)%s*$")
    if line == "TAKE" or line:match("^TAKE%s") then
      take = nil
      if line:match("SEL") then
        active = #takes + 1
      end
    elseif line:match("^NAME ") then
      take = { item = item, notes = {}, ccs = {}, name = line:match('^NAME "(.*)"$'), midi = false }
      takes[#takes + 1] = take
    elseif line == "<SOURCE MIDI" then
      take.midi = true
    elseif line:match("^POOLEDEVTS ") then
      local pool = line:sub(12)
      assert(not pools[pool], "two takes of an item share pooled MIDI events")
      pools[pool], take.pool = true, pool
    elseif line:match("^GUID ") and take and take.midi then
      take.guid = line:sub(6)
    elseif line:match("^FAKENOTE ") then
      local a, b, chan, pitch, vel, muted, sel = line:match("^FAKENOTE (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$")
      table.insert(take.notes, { ppq_a = tonumber(a), ppq_b = tonumber(b), chan = tonumber(chan),
        pitch = tonumber(pitch), vel = tonumber(vel), muted = muted == "true", selected = sel == "true" })
    elseif line:match("^FAKECC ") then
      local ppq, msg, chan, m2, m3 = line:match("^FAKECC (%S+) (%S+) (%S+) (%S+) (%S+)$")
      table.insert(take.ccs, { ppq = tonumber(ppq), chanmsg = tonumber(msg), chan = tonumber(chan),
        msg2 = tonumber(m2), msg3 = tonumber(m3) })
    end
  end
  for _, t in ipairs(takes) do -- REAPER gives a source without ids new ones
    t.pool = t.midi and (t.pool or self:new_id()) or nil
    sort_take(t)
  end
  item.takes, item.active = takes, active
end

local function take_qn(take, ppq)
  return take.item.start_qn + ppq / PPQ
end

--- The `reaper` table the scripts see.
function Fake:api()
  local fake = self
  local r = {}

  function r.get_action_context() return true, fake.script or "", 0, 0, -1, -1, 0, "" end
  function r.GetResourcePath() return fake.resource_path end
  function r.time_precise() return fake.clock() end
  function r.defer(f) fake.deferred[#fake.deferred + 1] = f end
  function r.atexit(f) fake.at_exit[#fake.at_exit + 1] = f end
  function r.ShowConsoleMsg(text) fake.console[#fake.console + 1] = text end
  function r.MB(text, title, kind)
    fake.alerts[#fake.alerts + 1] = { text = text, title = title, kind = kind }
    return table.remove(fake.answers.MB or {}, 1) or (kind == 4 and 7 or 1)
  end
  function r.GetUserInputs(title, n, captions, values)
    local answer = table.remove(fake.answers.inputs or {}, 1)
    fake.inputs_asked = (fake.inputs_asked or 0) + 1
    assert(select(2, captions:gsub(",", ",")) + 1 >= n, "GetUserInputs: fewer captions than fields")
    if answer == nil then
      return false, values
    end
    return true, answer
  end
  function r.ExecProcess(cmd, timeout)
    assert(timeout == -1, "ExecProcess must not wait (timeout -1)")
    fake.exec[#fake.exec + 1] = cmd
    if fake.on_exec then
      fake.on_exec(cmd)
    end
    return ""
  end

  -- time
  function r.GetSet_LoopTimeRange2(_, set)
    assert(not set, "the scripts only read the time selection")
    return fake.map:qn_to_time(fake.selection[1]), fake.map:qn_to_time(fake.selection[2])
  end
  function r.TimeMap2_timeToQN(_, t) return fake.map:time_to_qn(t) end
  function r.TimeMap2_QNToTime(_, qn) return fake.map:qn_to_time(qn) end
  function r.TimeMap_GetMeasureInfo(_, index)
    local a, b, num, den = fake.map:measure(index)
    return fake.map:qn_to_time(a), a, b, num, den, fake.map:bpm_at_qn(a)
  end
  function r.TimeMap_GetTimeSigAtTime(_, t)
    local qn = fake.map:time_to_qn(t)
    local index = fake.map:measure_at_qn(qn)
    local _, _, num, den = fake.map:measure(index)
    return num, den, fake.map:bpm_at_qn(qn)
  end

  -- tracks
  function r.CountTracks() return #fake.tracks end
  function r.GetTrack(_, i) return fake.tracks[i + 1] end
  function r.GetTrackGUID(track) return track.guid end
  function r.GetTrackName(track) return true, track.name end
  function r.IsTrackSelected(track) return track.selected end
  function r.GetMediaTrackInfo_Value(track, key)
    assert(key == "B_MUTE", "fake: track value " .. key)
    return track.muted and 1 or 0
  end
  local function selected()
    local out = {}
    for _, t in ipairs(fake.tracks) do
      if t.selected then
        out[#out + 1] = t
      end
    end
    return out
  end
  function r.CountSelectedTracks() return #selected() end
  function r.GetSelectedTrack(_, i) return selected()[i + 1] end

  -- items and takes
  function r.CountTrackMediaItems(track) return #track.items end
  function r.GetTrackMediaItem(track, i) return track.items[i + 1] end
  function r.GetMediaItemInfo_Value(item, key)
    if key == "D_POSITION" then
      return fake.map:qn_to_time(item.start_qn)
    elseif key == "D_LENGTH" then
      return fake.map:qn_to_time(item.end_qn) - fake.map:qn_to_time(item.start_qn)
    elseif key == "B_MUTE" then
      return item.muted and 1 or 0
    end
    error("fake: item value " .. key)
  end
  function r.GetActiveTake(item) return item.takes[item.active] end
  function r.TakeIsMIDI(take) return take.midi end
  function r.CountTakes(item) return #item.takes end
  function r.GetTake(item, i) return item.takes[i + 1] end
  function r.GetMediaItemTakeInfo_Value(take, key)
    assert(key == "IP_TAKENUMBER", "fake: take value " .. key)
    for i, t in ipairs(take.item.takes) do
      if t == take then
        return i - 1
      end
    end
    error("fake: a take that is no longer in its item (stale after SetItemStateChunk?)")
  end
  function r.SetActiveTake(take)
    for i, t in ipairs(take.item.takes) do
      if t == take then
        take.item.active = i
      end
    end
  end
  function r.CreateNewMIDIItemInProj(track, a, b, qn)
    assert(qn == true, "fake: CreateNewMIDIItemInProj is given quarter notes")
    local item = fake:add_item(track, a, b)
    item.takes[1] = { item = item, notes = {}, ccs = {}, name = "", midi = true }
    item.created = true
    return item
  end
  function r.GetSetMediaItemTakeInfo_String(take, key, value, set)
    assert(key == "P_NAME", "fake: take string " .. key)
    if set then
      take.name = value
    end
    return true, take.name
  end
  function r.GetItemStateChunk(item) return true, fake:item_chunk(item) end
  function r.SetItemStateChunk(item, chunk)
    fake:set_item_chunk(item, chunk)
    return true
  end
  function r.DeleteTrackMediaItem(track, item)
    for i, it in ipairs(track.items) do
      if it == item then
        table.remove(track.items, i)
        return true
      end
    end
    return false
  end
  function r.UpdateItemInProject() end
  function r.UpdateArrange() end
  function r.PreventUIRefresh(n) fake.ui_refresh = fake.ui_refresh + n end

  -- MIDI
  function r.MIDI_CountEvts(take) return true, #take.notes, #take.ccs, 0 end
  function r.MIDI_GetNote(take, i)
    local n = take.notes[i + 1]
    if not n then
      return false
    end
    return true, n.selected, n.muted, n.ppq_a, n.ppq_b, n.chan, n.pitch, n.vel
  end
  function r.MIDI_GetCC(take, i)
    local c = take.ccs[i + 1]
    if not c then
      return false
    end
    return true, false, false, c.ppq, c.chanmsg, c.chan, c.msg2, c.msg3
  end
  function r.MIDI_InsertNote(take, sel, muted, a, b, chan, pitch, vel, no_sort)
    assert(take.midi, "MIDI_InsertNote on a take without a MIDI source")
    assert(b > a, "MIDI_InsertNote: a note must end after it starts")
    assert(pitch >= 0 and pitch <= 127 and vel >= 1 and vel <= 127 and chan >= 0 and chan <= 15, "MIDI_InsertNote: bad note")
    take.notes[#take.notes + 1] = { ppq_a = a, ppq_b = b, chan = chan, pitch = pitch, vel = vel, muted = muted, selected = sel }
    fake.inserts[#fake.inserts + 1] = { tick = fake.tick, take = take, qn = take_qn(take, a), pitch = pitch }
    return sorted_unless(take, no_sort)
  end
  -- As REAPER's: nil leaves a field as it is.
  function r.MIDI_SetNote(take, i, sel, muted, a, b, chan, pitch, vel, no_sort)
    local n = take.notes[i + 1]
    assert(n, "MIDI_SetNote: no note " .. i)
    local new = { selected = sel, muted = muted, ppq_a = a, ppq_b = b, chan = chan, pitch = pitch, vel = vel }
    for k, v in pairs(new) do
      n[k] = v
    end
    assert(n.ppq_b > n.ppq_a, "MIDI_SetNote: a note must end after it starts")
    fake.sets = (fake.sets or 0) + 1
    return sorted_unless(take, no_sort)
  end
  function r.MIDI_DeleteNote(take, i)
    assert(take.notes[i + 1], "MIDI_DeleteNote: no note " .. i)
    table.remove(take.notes, i + 1)
    return true
  end
  function r.MIDI_Sort(take) sort_take(take) end
  function r.MIDI_GetProjQNFromPPQPos(take, ppq) return take_qn(take, ppq) end
  function r.MIDI_GetPPQPosFromProjQN(take, qn) return (qn - take.item.start_qn) * PPQ end

  -- undo
  function r.Undo_BeginBlock2()
    assert(not fake.undo_open, "Undo_BeginBlock2 inside an open block")
    fake.undo_open = true
    fake.undo[#fake.undo + 1] = { opened = fake.tick }
  end
  function r.Undo_EndBlock2(_, label, flags)
    assert(fake.undo_open, "Undo_EndBlock2 without Undo_BeginBlock2")
    fake.undo_open = false
    local u = fake.undo[#fake.undo]
    u.closed, u.label, u.flags = fake.tick, label, flags
  end

  -- ExtState
  function r.GetExtState(section, key) return fake.global_ext[section .. "/" .. key] or "" end
  function r.SetExtState(section, key, value) fake.global_ext[section .. "/" .. key] = value end
  function r.DeleteExtState(section, key) fake.global_ext[section .. "/" .. key] = nil end
  function r.GetProjExtState(_, section, key)
    local v = fake.project_ext[section .. "/" .. key]
    return v and 1 or 0, v or ""
  end
  function r.SetProjExtState(_, section, key, value)
    fake.project_ext[section .. "/" .. key] = value
    return 1
  end

  return setmetatable(r, { __index = function(_, name) error("fake reaper: " .. tostring(name) .. " is not implemented", 2) end })
end

return Fake
