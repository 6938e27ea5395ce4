--[[
What each action does in REAPER: read the selection, start a job, and return at once; a
reaper.defer loop then drains every datagram waiting on the non-blocking socket each tick,
feeds the job, sends its paced datagrams, and writes each bar as it arrives. This module ties
the pure parts (plan, job) to the REAPER layer (project, writer, config) and to the user.

Several scripts can run at once (each action run is its own Lua state), but a project has one
live job: a new one replaces the running one, which takes its bars back out. They coordinate
through global ExtState: "live:<client id>" names the live job, "cancel:<client id>" asks it
to stop (midigen - Cancel.lua).
]]

local Job = require("midigen.job")
local Writer = require("midigen.writer")
local bars = require("midigen.bars")
local config = require("midigen.config")
local net = require("midigen.net")
local osc = require("midigen.osc")
local plan_mod = require("midigen.plan")
local project = require("midigen.project")

local app = {}

app.TITLE = "midigen"

local function say(text)
  reaper.ShowConsoleMsg("midigen: " .. text .. "\n")
  config.share("status", text)
end

local function alert(text)
  say(text)
  reaper.MB(text, app.TITLE, 0)
end

local function shown_job_settings(cfg)
  return ("%s:%d, %d variation(s), temperature %g, top-p %g"):format(cfg.host, cfg.port,
    cfg.variations, cfg.temperature, cfg.top_p)
end

-- One running job and its writer, driven by the defer loop.
local Run = {}
Run.__index = Run

function Run:start(connect_timeout)
  local limits = { timeout = self.cfg.timeout, connect_timeout = connect_timeout }
  self.job = Job.new({
    id = self.id, port = self.udp.port, client_id = self.client_id, piece = self.plan.piece,
    request = self.plan.request, limits = limits, replaces = self.replaces,
  })
  self.writer = Writer.new(self.proj, self.plan)
  self.progress_shown = -1
  self.job:start(reaper.time_precise())
end

function Run:_event(e)
  if e.kind == "bar" then
    self.writer:write_bar(e)
  elseif e.kind == "status" then
    local pct = tonumber(e.text:match("(%d+)%%$"))
    if not pct then
      say(e.text)
    elseif pct >= self.progress_shown + 25 or pct == 100 then
      self.progress_shown = pct
      say(e.text)
    end
  elseif e.kind == "done" then
    self.writer:commit()
    local d = e.done
    say(("done: %s, %d bars (%d notes) in %d ms, first bar after %d ms (seed %d)"):format(
      self.plan.label:gsub("^midigen: ", ""), self.writer.bars_written, self.writer.notes_written,
      math.floor(d.total_ms + 0.5), math.floor(d.first_bar_ms + 0.5), d.seed))
  elseif e.kind == "cancelled" then
    self.writer:revert()
    say(e.reason .. "; nothing was written")
  elseif e.kind == "failed" then
    self.writer:revert()
    alert("the server could not do it: " .. e.message .. "\nNothing was written.")
  elseif e.kind == "absent" then
    self.writer:revert()
    self:_offer_server()
  end
end

-- No /pong: say so and offer to start the server with the configured command.
function Run:_offer_server()
  local cfg = self.cfg
  local text = ("midigen-server does not answer on %s:%d."):format(cfg.host, cfg.port)
  if self.started_server or cfg.server_command == "" then
    return alert(text .. "\nStart it (make serve, or midigen-server --port " .. cfg.port .. ") and try again.")
  end
  say(text)
  local answer = reaper.MB(text .. "\n\nStart it now with:\n" .. cfg.server_command, app.TITLE, 4)
  if answer ~= 6 then -- 6: Yes
    return say("not started; nothing was written")
  end
  reaper.ExecProcess(cfg.server_command, -1) -- -1: do not wait for it
  self.started_server = true
  say("starting the server; the job goes out as soon as it answers")
  self:start(cfg.start_wait) -- a fresh server loads its model first
end

function Run:tick()
  local now = reaper.time_precise()
  local job = self.job
  for _, data in ipairs(self.udp:drain()) do
    local messages = osc.decode(data)
    for _, m in ipairs(messages or {}) do
      job:receive(m, now)
    end
  end
  if config.shared("cancel:" .. self.client_id) == tostring(self.id) then
    job:cancel("cancelled", now)
  elseif config.shared("live:" .. self.client_id) ~= tostring(self.id) then
    job:cancel("replaced by a newer job", now)
  end
  job:tick(now)
  for _, d in ipairs(job:take_datagrams()) do
    self.udp:send(d, self.cfg.host, self.cfg.port)
  end
  for _, e in ipairs(job:take_events()) do
    self:_event(e)
  end
  return not self.job.finished -- a new job after _offer_server is not finished
end

function Run:close()
  self.closed = true
  local bye = self.job:bye()
  if bye then
    self.udp:send(bye, self.cfg.host, self.cfg.port)
  end
  if config.shared("live:" .. self.client_id) == tostring(self.id) then
    config.share("live:" .. self.client_id, nil)
  end
  if config.shared("cancel:" .. self.client_id) == tostring(self.id) then
    config.share("cancel:" .. self.client_id, nil)
  end
  self.udp:close()
end

-- REAPER ends the script (the user chose "terminate" when running the action again, or
-- REAPER quits): a job still running is cancelled and its bars are taken out.
function Run:abort()
  if self.closed then
    return
  end
  if not self.job.finished then
    self.job:cancel("stopped", reaper.time_precise())
    for _, d in ipairs(self.job:take_datagrams()) do
      self.udp:send(d, self.cfg.host, self.cfg.port)
    end
    self.writer:revert()
  end
  self:close()
end

function Run:loop()
  local ok, going = xpcall(self.tick, debug.traceback, self)
  if not ok then
    pcall(self.writer.revert, self.writer)
    self:close()
    return alert("internal error, nothing was written:\n" .. tostring(going))
  end
  if going then
    reaper.defer(function() self:loop() end)
  else
    self:close()
  end
end

--- The action for `mode` ("infill", "continue" or "loop"): returns as soon as the request is
--- sent; the rest happens in the defer loop.
function app.run(mode)
  local socket, why = net.load_socket(reaper.GetResourcePath())
  if not socket then
    return alert(why)
  end
  local proj = 0
  local cfg = config.job(proj)
  local extra = mode == "continue" and plan_mod.MAX_NEW_BARS or cfg.context
  local snapshot
  snapshot, why = project.snapshot(proj, mode, cfg.context, extra)
  if not snapshot then
    return alert(why)
  end
  local track_cfg = {}
  for _, t in ipairs(snapshot.tracks) do
    track_cfg[t.guid] = config.track(proj, t.guid)
  end
  local plan
  plan, why = plan_mod.build(snapshot, mode, cfg, track_cfg)
  if not plan then
    return alert(why)
  end
  local udp
  udp, why = net.open(socket, net.bind_address(cfg.host))
  if not udp then
    return alert(why)
  end
  local client_id = config.client_id(proj)
  local run = setmetatable({
    proj = proj, cfg = cfg, plan = plan, udp = udp, client_id = client_id,
    id = math.random(1, 0x7fffffff),
    replaces = tonumber(config.shared("live:" .. client_id)),
  }, Run)
  config.share("live:" .. client_id, run.id)
  if snapshot.snapped then
    say(("the time selection was widened to whole bars: %s"):format(bars.label(snapshot.first, snapshot.last)))
  end
  say(("%s (%s)"):format(plan.label:gsub("^midigen: ", ""), shown_job_settings(cfg)))
  run:start()
  reaper.atexit(function() run:abort() end)
  reaper.defer(function() run:loop() end)
  return run
end

--- midigen - Cancel.lua: asks the project's live job to stop.
function app.cancel()
  local client_id = config.client_id(0)
  local live = config.shared("live:" .. client_id)
  if not live then
    return say("no job is running")
  end
  config.share("cancel:" .. client_id, live)
  say("cancelling")
end

return app
