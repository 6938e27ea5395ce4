--[[
Runs the real action scripts against the fake REAPER: each script's main chunk as REAPER runs
an action, then the defer queue tick by tick (about 30 per second, as REAPER's UI loop), timing
every call so a test can prove that no call waits on the network.

Each script starts with fresh midigen modules, as each REAPER action run has its own Lua state.
]]

local socket = require("socket")

local harness = {}

harness.TICK = 1 / 30

local SCRIPTS = "./"

local function fresh_modules()
  for name in pairs(package.loaded) do
    if name:match("^midigen%.") then
      package.loaded[name] = nil
    end
  end
end

--- Runs script `name` (e.g. "midigen - Infill selected bars.lua") now; its deferred work
--- joins the queue.
function harness.start(fake, name)
  fake.script = SCRIPTS .. name
  fresh_modules()
  local t0 = socket.gettime()
  dofile(fake.script)
  fake.slowest = math.max(fake.slowest or 0, socket.gettime() - t0)
end

--- Starts `name`, then runs deferred calls until none is left. `on_tick(tick)` runs after
--- every tick (tests start other scripts there). Raises after `limit` seconds.
function harness.run(fake, name, on_tick, limit)
  _G.reaper = fake:api()
  fake.clock = socket.gettime
  fake.slowest = 0
  harness.start(fake, name)
  local deadline = socket.gettime() + (limit or 60)
  while #fake.deferred > 0 do
    fake.tick = fake.tick + 1
    local queue = fake.deferred
    fake.deferred = {}
    for _, f in ipairs(queue) do
      local t0 = socket.gettime()
      f()
      local took = socket.gettime() - t0
      fake.slowest = math.max(fake.slowest, took)
      -- A message box is the user's time, not ours: only calls without one must be quick.
      if #fake.alerts == (fake.alerts_seen or 0) then
        assert(took < harness.TICK, ("a deferred call took %.1f ms, more than a tick"):format(took * 1000))
      end
      fake.alerts_seen = #fake.alerts
    end
    fake:check_tick()
    if on_tick then
      on_tick(fake.tick)
    end
    assert(socket.gettime() < deadline, "the script was still running after " .. (limit or 60) .. " s")
    socket.sleep(harness.TICK)
  end
  harness.terminate(fake)
  return fake
end

--- Ends every running script as REAPER does: its deferred calls are dropped and its atexit
--- functions run.
function harness.terminate(fake)
  fake.deferred = {}
  local handlers = fake.at_exit
  fake.at_exit = {}
  for _, f in ipairs(handlers) do
    f()
  end
  fake:check_tick()
end

--- Everything the scripts printed to the console, as one string.
function harness.console(fake)
  return table.concat(fake.console)
end

return harness
