-- The real scripts, under lua5.4 with the fake REAPER, talking OSC over UDP to a real
-- midigen-server on MIDIGEN_TEST_PORT (tests/test_reaper_e2e.py starts it).
package.path = "./?.lua;" .. package.path
local harness = require("spec.fake.harness")
local project = require("e2e.project")

local INFILL = "midigen - Infill selected bars.lua"

local function console(fake)
  return harness.console(fake)
end

-- A slow network between the server and the scripts: each tick hands the script the waiting
-- datagrams up to and including one /midigen/bar, so a job's bars reach it over as many ticks as
-- it has bars (and /done after the last), however fast the server and this machine are. It is
-- the real net module, loaded through package.preload (every script run requires its modules
-- anew) with its drain wrapped. Returns the ticks in which a non-empty /midigen/bar arrived;
-- `fast_network()` (after each spec) takes it away again.
local function slow_network(fake)
  local arrivals = {}
  package.preload["midigen.net"] = function(name)
    local net = package.searchers[2](name)(name)
    local osc = require("midigen.osc")
    local open = net.open
    net.open = function(...)
      local udp, err = open(...)
      if not udp then
        return udp, err
      end
      local drain, waiting = udp.drain, {}
      udp.drain = function(self, max)
        for _, data in ipairs(drain(self, max)) do
          waiting[#waiting + 1] = data
        end
        local out = {}
        while #waiting > 0 do
          local data = table.remove(waiting, 1)
          out[#out + 1] = data
          local bar = false
          for _, m in ipairs(osc.decode(data) or {}) do
            if m.address == "/midigen/bar" then
              bar = true
              if m.args[5] > 0 then
                arrivals[fake.tick] = true
              end
            end
          end
          if bar then
            break
          end
        end
        return out
      end
      return udp
    end
    return net
  end
  return arrivals
end

local function fast_network()
  package.preload["midigen.net"] = nil
end

describe("Infill selected bars", function()
  after_each(fast_network)

  it("writes only inside the selected bars of the selected track, bar by bar, with one undo point", function()
    local fake = project.new({ 16, 24 }, { variations = 1 }) -- bars 5-6, after the tempo change
    local before = { project.fingerprint(fake, 2), project.fingerprint(fake, 3), project.fingerprint(fake, 4) }
    local _, outside_before = project.split(fake, 1, 16, 24)
    -- the writing rule (docs/osc-protocol.md): a new note may ring past the selection, up to
    -- the next kept note of its pitch and at most to the item's end (44)
    local ring_limit = {}
    for _, n in ipairs(fake:notes(1)) do
      if n.start >= 24 and n.start < (ring_limit[n.pitch] or 44) then ring_limit[n.pitch] = n.start end
    end
    local arrivals = slow_network(fake)
    harness.run(fake, INFILL)
    local text = console(fake)
    assert.truthy(text:find("done: infill bars 5%-6"), text)
    -- other tracks and the piano outside bars 5-6 are untouched
    assert.are.same(before, { project.fingerprint(fake, 2), project.fingerprint(fake, 3), project.fingerprint(fake, 4) })
    local inside, outside = project.split(fake, 1, 16, 24)
    assert.are.same(outside_before, outside)
    assert.is_true(#inside > 0, "no notes were written: " .. text)
    for _, n in ipairs(fake:notes(1)) do
      if n.start >= 16 and n.start < 24 then
        local limit = ring_limit[n.pitch] or 44
        assert.is_true(n.finish <= limit + 1e-9,
          ("a written note (pitch %d) rings to %.3f, past %.3f"):format(n.pitch, n.finish, limit))
      end
    end
    -- streamed: each bar's notes go in during the tick its /bar arrived (not held back for
    -- /done), all before the undo point closed
    local ticks = {}
    for _, ins in ipairs(fake.inserts) do
      ticks[ins.tick] = true
      assert.is_true(ins.qn >= 16 and ins.qn < 24)
    end
    assert.is_true(next(arrivals) ~= nil, "no non-empty /bar arrived")
    assert.are.same(arrivals, ticks)
    assert.are.equal(1, #fake.undo)
    assert.are.same({ "midigen: infill bars 5-6", -1 }, { fake.undo[1].label, fake.undo[1].flags })
    assert.is_true(fake.undo[1].closed >= fake.inserts[#fake.inserts].tick)
    assert.is_true(fake.slowest < harness.TICK, ("a call took %.1f ms"):format(fake.slowest * 1000))
    local distinct = 0
    for _ in pairs(ticks) do distinct = distinct + 1 end
    print(("\n[e2e] %d ticks (bars written in %d), slowest call %.2f ms; %s"):format(fake.tick, distinct, fake.slowest * 1000,
      text:match("midigen: (done: [^\n]*)")))
  end)

  it("puts K variations in K new takes of the item, the first made active", function()
    local fake = project.new({ 16, 20 }, { variations = 3 })
    local original = project.fingerprint(fake, 1)
    harness.run(fake, INFILL)
    assert.truthy(console(fake):find("done:"), console(fake))
    local item = fake.tracks[1].items[1]
    assert.are.equal(4, #item.takes) -- the original and 3 variations
    assert.are.same({ "", "midigen 1", "midigen 2", "midigen 3" }, { item.takes[1].name, item.takes[2].name, item.takes[3].name, item.takes[4].name })
    assert.are.equal(2, item.active)
    for _, n in ipairs(fake:notes(1, true)) do
      if n.take == 1 then
        assert.truthy(original:find(("%.4f"):format(n.start), 1, true))
      end
    end
    assert.are.equal(1, #fake.undo)
  end)

  it("writes a new item when the selected track has none there", function()
    local fake = project.new({ 38, 44 }, {}) -- bars 11-12 (3/4)
    fake.tracks[1].items = {}
    fake.tracks[4].muted = false
    harness.run(fake, INFILL)
    assert.truthy(console(fake):find("done: infill bars 11%-12"), console(fake))
    local items = fake.tracks[1].items
    assert.are.equal(1, #items)
    assert.are.same({ 38, 44 }, { items[1].start_qn, items[1].end_qn })
  end)

  it("changes nothing and shows the server's text when it refuses the job", function()
    local fake = project.new({ 16, 24 }, {})
    -- a register upside down, as a hand-edited project could hold (Settings refuses it)
    fake.project_ext["midigen/track:" .. fake.tracks[1].guid] = "pitch_min=72 pitch_max=48"
    local before = project.fingerprint(fake, 1, true)
    harness.run(fake, INFILL)
    assert.are.equal(1, #fake.alerts, harness.console(fake))
    assert.truthy(fake.alerts[1].text:find("pitch_min"), fake.alerts[1].text)
    assert.truthy(fake.alerts[1].text:find("Nothing was written"))
    assert.are.equal(before, project.fingerprint(fake, 1, true))
    assert.are.equal(0, #fake.undo)
  end)

  it("takes streamed bars out again on cancel", function()
    local fake = project.new({ 0, 44 }, { variations = 1 }) -- 12 bars: long enough to cancel
    local before = project.fingerprint(fake, 1, true)
    local cancelled_at
    slow_network(fake) -- 12 bars over 12 ticks or more: a first bar with more to come
    harness.run(fake, INFILL, function(tick)
      if not cancelled_at and #fake.inserts > 0 then
        cancelled_at = tick
        harness.start(fake, "midigen - Cancel.lua")
      end
    end)
    assert.is_truthy(cancelled_at, "no bar arrived to cancel after")
    assert.are.equal(before, project.fingerprint(fake, 1, true))
    assert.are.equal(0, #fake.undo)
    assert.truthy(console(fake):find("cancelled; nothing was written"), console(fake))
  end)

  it("takes its bars out when REAPER terminates the script mid-job", function()
    local fake = project.new({ 0, 44 }, {})
    local before = project.fingerprint(fake, 1, true)
    local stopped
    slow_network(fake) -- 12 bars over 12 ticks or more: a first bar with more to come
    harness.run(fake, INFILL, function()
      if not stopped and #fake.inserts > 0 then
        stopped = true
        harness.terminate(fake)
      end
    end)
    assert.is_true(stopped, "no bar arrived before the end")
    assert.are.equal(before, project.fingerprint(fake, 1, true))
    assert.are.equal(0, #fake.undo)
  end)

  it("times out, leaves nothing written, and says so", function()
    local fake = project.new({ 0, 44 }, { timeout = 0.02 }) -- no 12-bar job ends in 20 ms (a prefill alone takes longer)
    local before = project.fingerprint(fake, 1, true)
    harness.run(fake, INFILL)
    assert.are.equal(before, project.fingerprint(fake, 1, true))
    assert.are.equal(0, #fake.undo)
    assert.truthy(console(fake):find("timed out after 0.02 s; nothing was written"), console(fake))
  end)

  it("a second run replaces the running job: its bars go, the new job's stay", function()
    local fake = project.new({ 0, 44 }, {})
    local started
    slow_network(fake) -- 12 bars over 12 ticks or more: a first bar with more to come
    harness.run(fake, INFILL, function()
      if not started and #fake.inserts > 0 then
        started = #fake.inserts
        harness.start(fake, INFILL)
      end
    end)
    local text = console(fake)
    assert.truthy(text:find("replaced by a newer job; nothing was written"), text)
    assert.truthy(text:find("done: infill bars 1%-12"), text)
    assert.are.equal(1, #fake.undo)
  end)
end)

describe("Continue and Loop", function()
  it("Continue writes the bars after the selection", function()
    local fake = project.new({ 0, 16 }, { continue_bars = 2 })
    local _, outside_before = project.split(fake, 1, 16, 24)
    harness.run(fake, "midigen - Continue.lua")
    assert.truthy(console(fake):find("done: continue bars 5%-6"), console(fake))
    local inside, outside = project.split(fake, 1, 16, 24)
    assert.are.same(outside_before, outside)
    assert.is_true(#inside > 0)
    assert.are.equal("midigen: continue bars 5-6", fake.undo[1].label)
  end)

  it("Loop rewrites the selected bars", function()
    local fake = project.new({ 0, 8 }, {})
    local _, outside_before = project.split(fake, 1, 0, 8)
    harness.run(fake, "midigen - Loop.lua")
    assert.truthy(console(fake):find("done: loop bars 1%-2"), console(fake))
    local _, outside = project.split(fake, 1, 0, 8)
    assert.are.same(outside_before, outside)
    assert.are.equal("midigen: loop bars 1-2", fake.undo[1].label)
  end)
end)
