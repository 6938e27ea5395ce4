-- writer.lua on the fake REAPER, with bars crafted to test its guards: whatever arrives, only
-- the selected bars of the selected tracks change, and revert restores everything.
package.path = "./?.lua;" .. package.path
local Fake = require("spec.fake.reaper")

local function setup(variations, keys)
  local fake = Fake.new({ tracks = {
    { name = "Keys", selected = true, items = { { start_qn = 0, end_qn = 16, takes = { { notes = keys or {
      { 0, 1, 60 }, { 4, 5, 62 }, { 6, 7, 64 }, { 8, 9, 65 }, { 12, 13, 67 } } } } } } },
  } })
  _G.reaper = fake:api()
  package.loaded["midigen.writer"] = nil
  local Writer = require("midigen.writer")
  local plan = {
    request = { variations = variations or 1 },
    piece = { tracks = { { drum = false } } },
    targets = { [1] = fake.tracks[1].guid },
    origin = 4, -- piece time 0 is project quarter 4 (the window starts at bar 2)
    region = { 4, 12 }, -- bars 2-3
    label = "midigen: infill bars 2-3",
  }
  return fake, Writer.new(0, plan)
end

local function pitches(fake, take)
  local out = {}
  for _, n in ipairs(fake:notes(1, true)) do
    if take == nil or n.take == take then
      out[#out + 1] = ("%g:%d"):format(n.start, n.pitch)
    end
  end
  return table.concat(out, " ")
end

describe("Writer", function()
  it("replaces a bar's notes and never writes outside the selected bars", function()
    local fake, w = setup()
    w:write_bar({ variation = 1, track = 1, bar = 1, start = 0, finish = 4, notes = {
      { pitch = 70, start = -1, duration = 1, velocity = 80 }, -- before the region
      { pitch = 71, start = 1, duration = 20, velocity = 80 }, -- rings past it: to the item's end
      { pitch = 72, start = 9, duration = 1, velocity = 80 }, -- after it
    } })
    assert.are.equal("0:60 5:71 8:65 12:67", pitches(fake))
    assert.are.equal(16, fake:notes(1)[2].finish)
    w:write_bar({ variation = 1, track = 1, bar = 3, start = 8, finish = 12, notes = {} }) -- outside
    w:write_bar({ variation = 1, track = 2, bar = 1, start = 0, finish = 4, notes = {
      { pitch = 73, start = 0, duration = 1, velocity = 80 } } }) -- a context track
    assert.are.equal("0:60 5:71 8:65 12:67", pitches(fake))
    fake:check_tick()
  end)

  it("puts each variation in its own new take, copied from the original outside the bars", function()
    local fake, w = setup(2)
    w:write_bar({ variation = 2, track = 1, bar = 1, start = 0, finish = 4, notes = {
      { pitch = 80, start = 0.5, duration = 1, velocity = 80 } } })
    local item = fake.tracks[1].items[1]
    assert.are.equal(3, #item.takes)
    assert.are.equal("0:60 4:62 6:64 8:65 12:67", pitches(fake, 1))
    assert.are.equal("0:60 4:62 6:64 8:65 12:67", pitches(fake, 2)) -- variation 1: no bar yet
    assert.are.equal("0:60 4.5:80 8:65 12:67", pitches(fake, 3))
    assert.are.equal(2, item.active)
    fake:check_tick()
  end)

  it("reverts to the project as it was, takes and new items included", function()
    local fake, w = setup(3)
    local before = pitches(fake)
    w:write_bar({ variation = 1, track = 1, bar = 1, start = 0, finish = 4, notes = {
      { pitch = 80, start = 0.5, duration = 1, velocity = 80 } } })
    w:revert()
    assert.are.equal(before, pitches(fake))
    assert.are.equal(1, #fake.tracks[1].items[1].takes)
    assert.are.equal(0, #fake.undo)
    fake.tracks[1].items = {} -- now a track without an item: one is made, then deleted
    local _, w2 = fake, nil
    package.loaded["midigen.writer"] = nil
    w2 = require("midigen.writer").new(0, w.plan)
    w2:write_bar({ variation = 1, track = 1, bar = 1, start = 0, finish = 4, notes = {
      { pitch = 80, start = 0.5, duration = 1, velocity = 80 } } })
    assert.are.equal(1, #fake.tracks[1].items)
    local made = fake.tracks[1].items[1]
    assert.are.same({ "midigen 1", "midigen 2", "midigen 3" }, { made.takes[1].name, made.takes[2].name, made.takes[3].name })
    assert.are.equal("4.5:80", pitches(fake, 1))
    fake:check_tick()
    w2:revert()
    assert.are.equal(0, #fake.tracks[1].items)
  end)

  it("shortens kept notes ringing into new notes of their pitch, and new notes at kept ones", function()
    local keys = {
      { 0, 6, 62 }, -- rings into the selection (4-12)
      { 1, 7, 63 }, -- rings in too, but no new 63 starts while it sounds
      { 2, 20, 64 }, -- held over the whole selection: cut at the first new 64
      { 3, 5, 65 }, -- ends before the new 65 starts
      { 13, 14, 66 }, -- a kept 66 after the selection
      { 12, 13, 67 },
    }
    local fake, w = setup(1, keys)
    w:write_bar({ variation = 1, track = 1, bar = 1, start = 0, finish = 4, notes = {
      { pitch = 62, start = 1, duration = 1, velocity = 80 }, -- project 5
      { pitch = 63, start = 3.5, duration = 0.5, velocity = 80 }, -- project 7.5, after 63 ended
      { pitch = 64, start = 2, duration = 1, velocity = 80 }, -- project 6
      { pitch = 65, start = 2, duration = 1, velocity = 80 },
    } })
    w:write_bar({ variation = 1, track = 1, bar = 2, start = 4, finish = 8, notes = {
      { pitch = 64, start = 4, duration = 1, velocity = 80 }, -- project 8: the 64 is already cut
      { pitch = 66, start = 6, duration = 8, velocity = 80 }, -- project 10, would ring to 18
      { pitch = 67, start = 7, duration = 0.5, velocity = 80 },
    } })
    local got = {}
    for _, n in ipairs(fake:notes(1)) do
      got[#got + 1] = ("%d %g-%g"):format(n.pitch, n.start, n.finish)
    end
    assert.are.same({ "62 0-5", "63 1-7", "64 2-6", "65 3-5", "62 5-6", "64 6-7", "65 6-7",
      "63 7.5-8", "64 8-9", "66 10-13", "67 11-11.5", "67 12-13", "66 13-14" }, got)
    fake:check_tick()
    w:revert()
    assert.are.equal(20, fake:notes(1)[3].finish)
    assert.are.equal(6, fake:notes(1)[1].finish)
  end)

  it("commits one undo point named after the job", function()
    local fake, w = setup()
    w:write_bar({ variation = 1, track = 1, bar = 1, start = 0, finish = 4, notes = {} })
    w:commit()
    assert.are.equal(1, #fake.undo)
    assert.are.equal("midigen: infill bars 2-3", fake.undo[1].label)
    fake:check_tick()
  end)
end)
