-- plan.build: from a project snapshot to the piece, the request and where answers may go.
package.path = "./?.lua;" .. package.path
local plan = require("midigen.plan")
local settings = require("midigen.settings")

local function measures(n)
  local out = {}
  for b = 1, n do
    out[b] = { start = (b - 1) * 4, finish = b * 4, num = 4, den = 4 }
  end
  return out
end

local function note(start, pitch)
  return { pitch = pitch or 60, start = start, duration = 1, velocity = 90 }
end

local function snapshot()
  return {
    measures = measures(20), first = 5, last = 6, content_bars = 16, tempo = 100,
    tracks = {
      { guid = "A", name = "Lead", program = 80, drum = false, selected = false, notes = { note(0), note(30) } },
      { guid = "B", name = "Keys", program = 0, drum = false, selected = true, notes = { note(17), note(40) } },
      { guid = "C", name = "Pad", program = 88, drum = false, selected = false, muted = true, notes = { note(18) } },
      { guid = "D", name = "Far", program = 1, drum = false, selected = false, notes = { note(79) } },
      { guid = "E", name = "Drums", program = 0, drum = true, selected = true, notes = {} },
    },
  }
end

local CFG = settings.load(settings.JOB, function() return nil end)
CFG.context = 2

describe("plan.build", function()
  it("sends the selection with context, the selected tracks and the unmuted ones with notes there", function()
    local p = assert(plan.build(snapshot(), "infill", CFG, { B = { density = 6, pitch_min = 40, pitch_max = -1 } }))
    assert.are.equal(6, p.piece.bars) -- bars 3-8
    assert.are.equal(8, p.origin)
    local names = {}
    for i, t in ipairs(p.piece.tracks) do
      names[i] = t.name
    end
    assert.are.same({ "Lead", "Keys", "Drums" }, names) -- project order; muted Pad and far-away Far left out
    assert.are.same({ { pitch = 60, start = 9, duration = 1, velocity = 90 } }, p.piece.tracks[2].notes)
    assert.are.same({ B = nil, [2] = "B", [3] = "E" }, p.targets)
    assert.are.same({ track = 2, first = 3, last = 4, density = 6, pitch_min = 40 }, p.request.selections[1])
    assert.are.same({ track = 3, first = 3, last = 4 }, p.request.selections[2])
    assert.are.same({ 16, 24 }, p.region)
    assert.are.equal("midigen: infill bars 5-6", p.label)
    assert.are.same({ { bar = 1, num = 4, den = 4 } }, p.piece.meters)
  end)

  it("continues after the selection: selections start right after the piece", function()
    local cfg = setmetatable({ continue_bars = 3 }, { __index = CFG })
    local p = assert(plan.build(snapshot(), "continue", cfg, {}))
    assert.are.equal(4, p.piece.bars) -- bars 3-6, nothing after the selection
    assert.are.same({ 5, 7 }, { p.request.selections[1].first, p.request.selections[1].last })
    assert.are.same({ 24, 36 }, p.region)
    assert.are.equal("midigen: continue bars 7-9", p.label)
  end)

  it("refuses what the server would, with a message for the user", function()
    local s = snapshot()
    for _, t in ipairs(s.tracks) do
      t.selected = false
    end
    assert.truthy(select(2, plan.build(s, "infill", CFG, {})):find("no track is selected"))
    local dense = snapshot()
    for i = 1, plan.MAX_NOTES + 1 do
      dense.tracks[2].notes[i] = note(16 + (i % 8) / 4, 40 + i % 40)
    end
    assert.truthy(select(2, plan.build(dense, "infill", CFG, {})):find("the server takes 20000"))
    local cfg = setmetatable({ continue_bars = 65 }, { __index = CFG })
    assert.truthy(select(2, plan.build(snapshot(), "continue", cfg, {})):find("at most 64"))
  end)
end)

describe("settings", function()
  it("parse, name the field and range on bad input, and round-trip track controls", function()
    local f = settings.JOB[3]
    assert.are.equal(3, settings.parse(f, " 3 "))
    assert.are.same({ nil, "Variations (takes) must be a whole number from 1 to 16, got '2.5'" }, { settings.parse(f, "2.5") })
    local values = settings.decode_track("density=6 pitch_max=70 junk")
    assert.are.same({ 6, -1, 70 }, { values.density, values.poly_max, values.pitch_max })
    assert.are.same(values, settings.decode_track(settings.encode_track(values)))
    assert.truthy(settings.check_track({ pitch_min = 80, pitch_max = 70 }):find("pitch_min"))
    assert.is_nil(settings.check_track({ pitch_min = 60, pitch_max = -1 }))
    assert.is_nil((settings.from_csv(settings.TRACK, "1,2")))
  end)

  it("fit one GetUserInputs dialog each: at most 16 fields, no comma in a caption", function()
    for _, fields in ipairs({ settings.JOB, settings.TRACK }) do
      assert.is_true(#fields <= 16)
      for _, f in ipairs(fields) do
        assert.is_nil(f.label:find(",", 1, true), f.label)
        assert.are.equal(f.default, settings.parse(f, tostring(f.default)))
      end
    end
  end)
end)
