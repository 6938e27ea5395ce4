-- Bar geometry across meter and tempo changes: the fake project's map (spec/fake/timemap.lua)
-- gives the measures, as TimeMap_GetMeasureInfo would, and bars.lua works on them.
package.path = "./?.lua;" .. package.path
local bars = require("midigen.bars")
local notes = require("midigen.notes")
local timemap = require("spec.fake.timemap")

-- 4 bars of 4/4 at 120 BPM, then 3/4 at 90 BPM from qn 16, then 7/8 at 150 BPM from qn 28.
local map = timemap.new({
  { qn = 0, bpm = 120, num = 4, den = 4 },
  { qn = 16, bpm = 90, num = 3, den = 4 },
  { qn = 28, bpm = 150, num = 7, den = 8 },
})

local function measures(n)
  local out = {}
  for b = 1, n do
    local start, finish, num, den = map:measure(b - 1)
    out[b] = { start = start, finish = finish, num = num, den = den }
  end
  return out
end

describe("the fake tempo map", function()
  it("puts bar lines where the meters say", function()
    local m = measures(10)
    assert.are.same({ 0, 4, 12, 16, 19, 28, 31.5 }, { m[1].start, m[2].start, m[4].start, m[5].start, m[6].start, m[9].start, m[10].start })
    assert.are.same({ 3, 4 }, { m[5].num, m[5].den })
    assert.are.same({ 7, 8 }, { m[9].num, m[9].den })
  end)

  it("converts time and quarter notes across tempo changes", function()
    assert.are.equal(8, map:qn_to_time(16)) -- 16 quarters at 120
    assert.are.equal(8 + 12 * 60 / 90, map:qn_to_time(28))
    assert.are.equal(20, map:time_to_qn(map:qn_to_time(20)))
    assert.is_true(math.abs(map:time_to_qn(10) - (16 + 2 * 90 / 60)) < 1e-12) -- 2 s at 90
  end)
end)

describe("bars.snap", function()
  local m = measures(12)

  it("takes whole bars from a selection made in seconds across a tempo change", function()
    -- bars 4-6 as REAPER shows them: qn 12 .. 22 (4/4 bar then two 3/4 bars)
    local a, b = map:time_to_qn(map:qn_to_time(12)), map:time_to_qn(map:qn_to_time(22))
    assert.are.same({ 4, 6, false }, { bars.snap(m, a, b) })
  end)

  it("widens a selection inside bars to the bars it touches, and says so", function()
    assert.are.same({ 2, 5, true }, { bars.snap(m, 5.5, 17) })
    assert.are.same({ 9, 9, true }, { bars.snap(m, 28.5, 29) })
  end)

  it("ignores slivers closer than half a grid step to a bar line", function()
    assert.are.same({ 2, 2, false }, { bars.snap(m, 4 - 1e-7, 8 + 1e-7) })
  end)

  it("refuses an empty selection with a message", function()
    local first, why = bars.snap(m, 8, 8)
    assert.is_nil(first)
    assert.truthy(why:find("empty"))
    assert.is_nil((bars.snap(m, nil, nil)))
  end)

  it("finds bars by binary search, nil outside", function()
    assert.are.equal(1, bars.at(m, 0))
    assert.are.equal(5, bars.at(m, 16))
    assert.are.equal(5, bars.at(m, 18.99))
    assert.are.equal(6, bars.at(m, 19))
    assert.is_nil(bars.at(m, -1))
    assert.is_nil(bars.at(m, 1000))
  end)
end)

describe("bars.window and bars.meters", function()
  local m = measures(12)

  it("adds context either side within the project and the limit", function()
    assert.are.same({ 1, 10 }, { bars.window(3, 6, 4, 12) })
    assert.are.same({ 1, 6 }, { bars.window(3, 6, 4, 6) })
    assert.are.same({ 3, 8 }, { bars.window(5, 8, 2, 7) }) -- selection past the content stays
    assert.are.same({ 1, 8 }, { bars.window(5, 8, 8, 12, 8) }) -- trims context after first
  end)

  it("lists meter changes from the window's first bar, numbered from it", function()
    assert.are.same({
      { bar = 1, num = 4, den = 4 },
      { bar = 3, num = 3, den = 4 },
      { bar = 7, num = 7, den = 8 },
    }, bars.meters(m, 3, 10))
    assert.are.same({ { bar = 1, num = 3, den = 4 } }, bars.meters(m, 5, 6))
  end)

  it("labels bar ranges as the undo history shows them", function()
    assert.are.equal("bars 5-8", bars.label(5, 8))
    assert.are.equal("bar 3", bars.label(3, 3))
  end)
end)

describe("notes", function()
  local m = measures(12)
  local list = {
    { pitch = 60, start = 3.5, duration = 1, velocity = 90 }, -- bar 1, rings into bar 2
    { pitch = 62, start = 16.5, duration = 0.5, velocity = 200 }, -- bar 5 (3/4)
    { pitch = 64, start = 19, duration = 12, velocity = 80 }, -- bar 6, rings to bar 9
    { pitch = 65, start = 28.25, duration = 0.25, velocity = 70 }, -- bar 9 (7/8)
  }

  it("groups notes by the bar they start in, across meter changes", function()
    local g = notes.by_bar(m, list)
    assert.are.same({ 60 }, { g[1][1].pitch })
    assert.are.same({ 62 }, { g[5][1].pitch })
    assert.are.same({ 64 }, { g[6][1].pitch })
    assert.are.same({ 65 }, { g[9][1].pitch })
    assert.is_nil(g[2])
  end)

  it("moves a window's notes to piece time, cut at its end, velocities in range", function()
    local out = notes.to_piece(list, m[5].start, m[5].start, m[6].finish)
    assert.are.same({
      { pitch = 62, start = 0.5, duration = 0.5, velocity = 127 },
      { pitch = 64, start = 3, duration = 3, velocity = 80 },
    }, out)
  end)

  it("writes back only inside the selected bars", function()
    local back = notes.to_project({
      { pitch = 1, start = -0.5, duration = 1, velocity = 1 }, -- before the bars
      { pitch = 2, start = 0, duration = 8, velocity = 2 }, -- rings past them
      { pitch = 3, start = 2.999, duration = 1, velocity = 3 },
      { pitch = 4, start = 3, duration = 1, velocity = 4 }, -- starts at their end
    }, 16, 16, 19)
    assert.are.same({
      { pitch = 2, start = 16, duration = 3, velocity = 2 },
      { pitch = 3, start = 18.999, duration = 19 - 18.999, velocity = 3 },
    }, back)
  end)

  it("chunks notes for upload messages", function()
    local many = {}
    for i = 1, 130 do
      many[i] = i
    end
    local c = notes.chunks(many, 64)
    assert.are.same({ 64, 64, 2 }, { #c[1], #c[2], #c[3] })
    assert.are.equal(130, c[3][2])
  end)
end)
