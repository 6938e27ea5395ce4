-- What the scripts do without a working server or LuaSocket, and the Settings dialog: the
-- fake REAPER alone (a free port nobody listens on stands for an absent server).
package.path = "./?.lua;" .. package.path
local harness = require("spec.fake.harness")
local project = require("e2e.project")
local socket = require("socket")

local INFILL = "midigen - Infill selected bars.lua"

local function free_port()
  local udp = socket.udp()
  udp:setsockname("127.0.0.1", 0)
  local _, port = udp:getsockname()
  udp:close()
  return port
end

describe("without a server", function()
  it("says so, offers to start it, and writes nothing when the user declines", function()
    local fake = project.new({ 16, 24 }, { port = free_port() }, { MB = { 7 } })
    local before = project.fingerprint(fake, 1, true)
    harness.run(fake, INFILL)
    assert.are.equal(before, project.fingerprint(fake, 1, true))
    assert.are.equal(1, #fake.alerts)
    assert.truthy(fake.alerts[1].text:find("does not answer"))
    assert.are.equal(4, fake.alerts[1].kind) -- Yes/No
    assert.are.same({}, fake.exec)
    assert.truthy(harness.console(fake):find("not started; nothing was written"))
    assert.is_true(fake.slowest < harness.TICK)
  end)

  it("starts the configured command without waiting when the user accepts", function()
    local fake = project.new({ 16, 24 }, { port = free_port(), server_command = "true", start_wait = 1 }, { MB = { 6 } })
    harness.run(fake, INFILL, nil, 60)
    assert.are.same({ "true" }, fake.exec)
    -- the started command is no server: after waiting for it, the user is told
    assert.are.equal(2, #fake.alerts)
    assert.truthy(fake.alerts[2].text:find("does not answer"))
  end)

  it("refuses an empty time selection before sending anything", function()
    local fake = project.new({ 8, 8 }, {})
    harness.run(fake, INFILL)
    assert.truthy(fake.alerts[1].text:find("time selection is empty"))
    assert.are.equal(0, #fake.deferred)
  end)
end)

describe("a long project", function()
  it("the action still returns within a tick: only the notes near the selection are read", function()
    local fake = project.new({ 1200, 1208 }, { port = free_port() }, { MB = { 7 } }) -- bars 301-302
    local notes = {}
    for k = 0, 50000 - 1 do -- 400 bars of 4/4, 125 notes a bar, in one item
      notes[#notes + 1] = { k * 0.032, k * 0.032 + 0.03, 40 + k % 40, 80 }
    end
    fake.tracks[1].items = {}
    local item = fake:add_item(fake.tracks[1], 0, 1600)
    item.takes = { { item = item, notes = {}, ccs = {}, name = "", midi = true } }
    for _, n in ipairs(notes) do
      table.insert(item.takes[1].notes, { ppq_a = n[1] * 960, ppq_b = n[2] * 960, pitch = n[3], vel = n[4],
        chan = 0, muted = false, selected = false })
    end
    fake.map.markers = { { qn = 0, bpm = 100, num = 4, den = 4 } } -- 4/4 throughout
    fake.map = require("spec.fake.timemap").new(fake.map.markers)
    _G.reaper = fake:api()
    fake.clock = socket.gettime
    harness.start(fake, INFILL)
    assert.is_true(fake.slowest < harness.TICK, ("the action took %.1f ms"):format(fake.slowest * 1000))
    harness.terminate(fake)
  end)
end)

describe("without LuaSocket", function()
  it("tells the user how to install Mavriq's package", function()
    local fake = project.new({ 16, 24 }, {})
    local saved_socket, saved_core = package.loaded.socket, package.loaded["socket.core"]
    package.loaded.socket, package.loaded["socket.core"] = nil, nil
    local searchers = package.searchers
    package.searchers = { function(name)
      if name:match("^socket") then
        return "\n\tno LuaSocket here"
      end
      return searchers[2](name)
    end }
    local ok, err = pcall(harness.run, fake, INFILL)
    package.searchers = searchers
    package.loaded.socket, package.loaded["socket.core"] = saved_socket, saved_core
    assert.is_true(ok, err)
    assert.truthy(fake.alerts[1].text:find("Mavriq Lua Sockets"))
    assert.truthy(fake.alerts[1].text:find("ReaPack"))
  end)
end)

describe("Settings", function()
  it("saves valid values in the project and refuses a bad one naming it", function()
    local fake = project.new({ 0, 4 }, {}, { inputs = {
      "127.0.0.1,9100,2,0.8,0.9,-1,4,0,120,midigen-server --port 9100,30",
      "6,1,3,-1,-1,36,72",
    } })
    harness.run(fake, "midigen - Settings.lua")
    assert.are.equal("9100", fake.project_ext["midigen/port"])
    assert.are.equal("2", fake.project_ext["midigen/variations"])
    local guid = fake.tracks[1].guid
    assert.are.equal("density=6 poly_min=1 poly_max=3 dur_min=-1 dur_max=-1 pitch_min=36 pitch_max=72",
      fake.project_ext["midigen/track:" .. guid])

    local bad = project.new({ 0, 4 }, {}, { inputs = { "127.0.0.1,9100,99,0.8,0.9,-1,4,0,120,x,30" } })
    harness.run(bad, "midigen - Settings.lua")
    assert.truthy(bad.alerts[1].text:find("Variations %(takes%) must be a whole number from 1 to 16, got '99'"))
    assert.is_nil(bad.project_ext["midigen/variations"])
  end)
end)
