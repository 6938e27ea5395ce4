--[[
One generation job as a state machine: connect (/ping, then /hello for a token), upload,
generate, stream bars, finish. Pure: it never touches a socket or a clock. The caller feeds it
decoded OSC messages and the time, takes the datagrams it wants sent (a paced few per tick) and
the events it produced. Every timeout and retry is therefore testable with a fake clock, and
nothing here ever waits, so REAPER stays responsive.

Events: { kind = "status", text }, { kind = "bar", variation, track, bar, notes, start,
finish } (quarter notes from the piece start), and exactly one terminal event: "done" (the
/done fields in `done`), "failed" (message), "cancelled" (reason) or "absent" (no server).
]]

local protocol = require("midigen.protocol")

local Job = {}
Job.__index = Job

Job.DEFAULTS = {
  ping_interval = 0.5, -- resend /ping (or /hello) this often while connecting
  connect_timeout = 2.0, -- no /pong by then: no server
  upload_tries = 5, -- /upload/end sent at most this often, and whole uploads
  accept_timeout = 5.0, -- no /accepted by then: the job failed
  idle_timeout = 30.0, -- silence while queued or running: probe, then give up
  timeout = 300.0, -- the whole job
  cancel_wait = 2.0, -- after /cancel, wait this long for /cancelled
  result_tries = 2, -- /result requests when bars were lost in transit
  pace = 32, -- datagrams sent per tick at most (the protocol's pacing rule)
}

--- o = { id, port, client_id, piece (plan.lua's), request, limits = overrides of DEFAULTS,
--- replaces = an older job of ours to cancel once connected }
function Job.new(o)
  local self = setmetatable({}, Job)
  self.id, self.port, self.client_id = o.id, o.port, o.client_id
  self.piece, self.request, self.replaces = o.piece, o.request, o.replaces
  self.limits = setmetatable(o.limits or {}, { __index = Job.DEFAULTS })
  self.sess = { port = o.port }
  self.outbox, self.queue, self.pending, self.delivered, self.missing = {}, {}, {}, {}, {}
  self.phase, self.finished, self.ignored = "new", false, 0
  return self
end

function Job:_send(datagram)
  self.outbox[#self.outbox + 1] = datagram
end

function Job:_send_all(list)
  table.move(list, 1, #list, #self.outbox + 1, self.outbox)
end

function Job:_emit(event)
  self.queue[#self.queue + 1] = event
end

function Job:_status(text)
  self:_emit({ kind = "status", text = text })
end

function Job:_finish(event)
  if not self.finished then
    self.finished, self.phase = true, "finished"
    self.outbox = {}
    self:_emit(event)
  end
end

function Job:_fail(message)
  self:_finish({ kind = "failed", message = message })
end

function Job:_enter(phase, now)
  self.phase, self.since = phase, now
end

function Job:start(now)
  self.started, self.heard, self.last_ping, self.last_beat = now, now, now, now
  self:_enter("connect", now)
  self:_send(protocol.ping(self.port))
end

function Job:_on_pong(version, message, now)
  local wire = protocol.dialect(version)
  if not wire then
    return self:_fail(("the server speaks protocol %d and this script protocol %d: update the older one")
      :format(version, protocol.newest()))
  end
  local info, why = wire.parse(message)
  if not info then
    return self:_fail("the server's /pong does not parse: " .. why)
  end
  self.wire = wire
  self:_send(wire.hello(self.port, self.client_id))
  self:_enter("hello", now)
end

function Job:_ready(info, now)
  self.info = info -- the server's /welcome: model, device, control ranges
  if self.replaces then
    self:_send(self.wire.cancel(self.sess, self.replaces))
  end
  self:_upload(now)
end

function Job:_upload(now)
  self.uploads = (self.uploads or 0) + 1
  self.up = self.wire.upload(self.sess, self.id, self.piece)
  self.ends = 1
  self:_send_all(self.up.all)
  self:_enter("upload", now)
  self:_status(("uploading %d tracks, %d bars"):format(#self.piece.tracks, self.piece.bars))
end

function Job:_generate(now)
  self:_send(self.wire.generate(self.sess, self.id, self.id, self.request))
  self:_enter("generate", now)
end

local function key(r)
  return r.variation .. ":" .. r.track .. ":" .. r.bar
end

function Job:_on_bar(r)
  local k = key(r)
  local got = self.pending[k] or {}
  self.pending[k] = nil
  if self.delivered[k] then
    return -- sent again after /result
  end
  if #got ~= r.notes then
    self.missing[k] = true
    return
  end
  self.missing[k] = nil
  self.delivered[k] = true
  self:_emit({ kind = "bar", variation = r.variation, track = r.track, bar = r.bar, notes = got,
    start = r.start, finish = r.finish })
end

function Job:_on_done(r, now)
  if next(self.missing) then
    self.result_tries = (self.result_tries or 0) + 1
    if self.result_tries > self.limits.result_tries then
      return self:_fail("bars were lost in transit and could not be fetched again")
    end
    self.pending = {}
    self:_send(self.wire.result(self.sess, self.id))
    return self:_enter("resend", now)
  end
  self:_finish({ kind = "done", done = r })
end

function Job:_on_refused(r, now)
  local phase, code = self.phase, r.code
  if code == "not_finished" or (code == "job_in_use" and phase ~= "upload") then
    return -- our probe while it runs, or a /generate that arrived twice
  elseif phase == "cancelling" then -- over already, or our token went to a newer instance
    return self:_finish({ kind = "cancelled", reason = self.cancel_reason })
  elseif phase == "upload" and (code == "upload_incomplete" or code == "no_upload")
      and self.uploads < self.limits.upload_tries then
    return self:_upload(now)
  elseif code == "unknown_client" and (phase == "upload" or phase == "generate") and not self.rehello then
    self.rehello = true -- the server restarted: introduce ourselves again, upload again
    self:_send(self.wire.hello(self.port, self.client_id))
    return self:_enter("hello", now)
  end
  self:_fail(("%s (%s)"):format(r.message, code))
end

--- Feed one decoded OSC message (osc.decode). Messages for other jobs are ignored.
function Job:receive(message, now)
  if self.finished then
    return
  end
  if self.phase == "connect" then
    local version = protocol.pong_version(message)
    if version then
      self.heard = now
      self:_on_pong(version, message, now)
    end
    return
  end
  local r = self.wire.parse(message)
  if not r then
    self.ignored = self.ignored + 1
    return
  end
  local mine = r.job == self.id or r.piece == self.id
    or (r.kind == "refused" and (r.number == self.id or r.number <= 0)) or r.kind == "welcome"
  if not mine then
    return
  end
  self.heard, self.asked = now, nil
  local phase, kind = self.phase, r.kind
  if kind == "welcome" then
    if phase == "hello" then
      self.sess.token = r.token
      self:_ready(r, now)
    end
  elseif kind == "refused" then
    self:_on_refused(r, now)
  elseif kind == "failed" then
    self:_fail(("%s (%s)"):format(r.message, r.code))
  elseif kind == "upload_missing" and phase == "upload" then
    self:_send_all(self.wire.resend(self.up, r))
    self.since = now
  elseif kind == "uploaded" and phase == "upload" then
    self:_generate(now)
  elseif kind == "accepted" then
    self:_enter("running", now)
    self:_status(r.position == 0 and "generating" or ("queued, %d job(s) ahead"):format(r.position))
  elseif kind == "progress" then
    if phase == "generate" then
      self:_enter("running", now)
    end
    self:_status(("generating: %d%%"):format(math.floor(r.fraction * 100 + 0.5)))
  elseif kind == "notes" then
    local k = key(r)
    local list = self.pending[k] or {}
    table.move(r.notes, 1, #r.notes, #list + 1, list)
    self.pending[k] = list
  elseif kind == "bar" then
    self:_on_bar(r)
  elseif kind == "done" then
    if phase == "cancelling" then
      return self:_finish({ kind = "cancelled", reason = self.cancel_reason })
    end
    self:_on_done(r, now)
  elseif kind == "cancelled" then
    self:_finish({ kind = "cancelled", reason = self.cancel_reason or r.reason })
  elseif kind == "state" then
    if r.state == "unknown" then
      self:_fail("the server no longer knows this job (was it restarted?)")
    elseif (r.state == "done" or r.state == "cancelled" or r.state == "failed") and phase == "running" then
      self:_send(self.wire.result(self.sess, self.id)) -- its final message was lost
    end
  end
end

--- Stop the job: the user cancelled, it timed out, or a newer job replaced it. `reason` is
--- what the user is told.
function Job:cancel(reason, now)
  if self.finished or self.phase == "cancelling" then
    return
  end
  self.cancel_reason = reason
  if not self.sess.token then
    return self:_finish({ kind = "cancelled", reason = reason }) -- nothing queued yet
  end
  self.outbox = {}
  self:_send(self.wire.cancel(self.sess, self.id))
  self:_enter("cancelling", now)
end

--- Timeouts, retries and the heartbeat; call once per tick.
function Job:tick(now)
  if self.finished then
    return
  end
  local L, phase = self.limits, self.phase
  local waited = now - self.since
  if phase == "connect" or phase == "hello" then
    if waited >= L.connect_timeout then
      if phase == "connect" then
        return self:_finish({ kind = "absent", message = "midigen-server does not answer" })
      end
      return self:_fail("the server answered /ping but not /hello")
    elseif now - self.last_ping >= L.ping_interval then
      self.last_ping = now
      self:_send(phase == "connect" and protocol.ping(self.port) or self.wire.hello(self.port, self.client_id))
    end
    return
  end
  if phase == "cancelling" then
    if waited >= L.cancel_wait then
      self:_finish({ kind = "cancelled", reason = self.cancel_reason })
    end
    return
  end
  if now - self.started >= L.timeout then
    return self:cancel(("timed out after %g s"):format(L.timeout), now)
  end
  local wire = self.wire
  if phase == "upload" and #self.outbox == 0 and waited >= wire.UPLOAD_WAIT then
    if self.ends >= L.upload_tries then
      return self:_fail("the server did not confirm the upload")
    end
    self.ends, self.since = self.ends + 1, now
    return self:_send(self.up.finish)
  elseif phase == "generate" and waited >= L.accept_timeout then
    return self:_fail("the server did not accept the job")
  end
  local live = phase == "generate" or phase == "running" or phase == "resend"
  if live and now - self.last_beat >= wire.HEARTBEAT then
    self.last_beat = now
    self:_send(wire.status(self.sess, self.id))
  end
  if (phase == "running" or phase == "resend") and now - self.heard >= L.idle_timeout then
    if self.asked then
      return self:cancel(("the server went silent for %g s"):format(2 * L.idle_timeout), now)
    end
    self.asked, self.heard = true, now
    self:_send(wire.status(self.sess, self.id))
  end
end

--- The datagram that tells the server this client is leaving (its token, pieces and results
--- go), or nil before there was a token.
function Job:bye()
  return self.sess.token and self.wire.bye(self.sess) or nil
end

--- Up to `limits.pace` datagrams to send now.
function Job:take_datagrams()
  local n = math.min(#self.outbox, self.limits.pace)
  local out = table.move(self.outbox, 1, n, 1, {})
  table.move(self.outbox, n + 1, #self.outbox + n, 1)
  return out
end

--- The events produced since the last call.
function Job:take_events()
  local out = self.queue
  self.queue = {}
  return out
end

return Job
