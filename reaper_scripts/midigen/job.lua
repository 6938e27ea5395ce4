--[[
One generation job as a state machine: connect (ping), upload, generate, stream bars, finish.
Pure: it never touches a socket or a clock. The caller feeds it parsed replies (protocol.parse)
and the time, takes the datagrams it wants sent, a few per tick, and the events it produced.
That keeps every timeout and retry testable with a fake clock, and keeps REAPER responsive:
nothing here waits.

Events: { kind = "status", text }, { kind = "bar", variation, track, bar, notes, start, finish },
and exactly one terminal event: "done" (with the /done fields), "failed" (message),
"cancelled" (reason) or "absent" (message: no server answered).
]]

local protocol = require("midigen.protocol")

local Job = {}
Job.__index = Job

Job.DEFAULTS = {
  ping_interval = 0.5, -- resend /ping this often while connecting
  connect_timeout = 2.0, -- no /pong by then: the server is absent
  upload_timeout = 3.0, -- no /uploaded by then: upload again
  upload_tries = 3,
  accept_timeout = 3.0, -- no /accepted by then: the job failed
  idle_timeout = 30.0, -- silence while queued or running: ask with /result, then give up
  timeout = 300.0, -- the whole job
  cancel_wait = 2.0, -- after /cancel, wait this long for /cancelled
  result_tries = 2, -- /result requests when bars were lost in transit
  pace = 32, -- datagrams sent per tick at most
}

--- o = { id, port, make_piece = function(pong) -> piece | nil, message; request, limits }
function Job.new(o)
  local self = setmetatable({}, Job)
  self.id, self.port, self.make_piece, self.request = o.id, o.port, o.make_piece, o.request
  self.limits = setmetatable(o.limits or {}, { __index = Job.DEFAULTS })
  self.outbox, self.queue, self.pending, self.delivered, self.missing = {}, {}, {}, {}, {}
  self.phase = "new"
  self.finished = false
  return self
end

function Job:_send(datagram)
  self.outbox[#self.outbox + 1] = datagram
end

function Job:_emit(event)
  self.queue[#self.queue + 1] = event
end

function Job:_status(text)
  self:_emit({ kind = "status", text = text })
end

function Job:_finish(event)
  if not self.finished then
    self.finished = true
    self.phase = "finished"
    self.outbox = {} -- whatever was still queued is moot (a /cancel is sent before this)
    self:_emit(event)
  end
end

function Job:_enter(phase, now)
  self.phase, self.since = phase, now
end

function Job:start(now)
  self.started = now
  self.heard = now
  self:_enter("connect", now)
  self.last_ping = now
  self:_send(protocol.ping(self.port))
end

function Job:_upload(now)
  local datagrams = protocol.upload(self.port, self.id, self.piece)
  for _, d in ipairs(datagrams) do
    self:_send(d)
  end
  self.uploads = (self.uploads or 0) + 1
  self:_enter("upload", now)
  self:_status(("uploading %d tracks, %d bars"):format(#self.piece.tracks, self.piece.bars))
end

function Job:_generate(now)
  self:_send(protocol.generate(self.port, self.id, self.request))
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
      return self:_finish({ kind = "failed", message = "bars were lost in transit and could not be fetched again" })
    end
    self.pending = {}
    self:_send(protocol.result(self.port, self.id))
    self:_enter("resend", now)
    return
  end
  self:_finish({ kind = "done", done = r })
end

--- Feed one parsed reply (protocol.parse). Replies for other jobs are ignored.
function Job:receive(r, now)
  if self.finished then
    return
  end
  if r.kind == "pong" then
    if self.phase ~= "connect" then
      return
    end
    self.heard = now
    if r.protocol ~= protocol.VERSION then
      return self:_finish({ kind = "failed", message = ("the server speaks protocol %d, this script protocol %d: update the one that is older"):format(r.protocol, protocol.VERSION) })
    end
    self.pong = r
    local piece, why = self.make_piece(r)
    if not piece then
      return self:_finish({ kind = "failed", message = why })
    end
    self.piece = piece
    return self:_upload(now)
  end
  if r.job ~= self.id and not (r.kind == "error" and r.job == -1) then
    return
  end
  self.heard = now
  self.asked = nil
  local phase = self.phase
  if r.kind == "error" then
    if r.code == "upload_incomplete" and phase == "upload" and self.uploads < self.limits.upload_tries then
      return self:_upload(now)
    elseif r.code == "not_finished" then
      return -- our /result while it runs: it is alive
    elseif r.code == "job_in_use" and phase ~= "upload" then
      return -- a /generate sent twice; the first one runs
    end
    return self:_finish({ kind = "failed", message = ("%s (%s)"):format(r.message, r.code) })
  elseif r.kind == "uploaded" and phase == "upload" then
    return self:_generate(now)
  elseif r.kind == "accepted" then
    self:_enter("running", now)
    self:_status(r.position == 0 and "generating" or ("queued, %d job(s) ahead"):format(r.position))
  elseif r.kind == "progress" then
    if phase == "generate" then
      self:_enter("running", now)
    end
    self:_status(("generating: %d%%"):format(math.floor(r.fraction * 100 + 0.5)))
  elseif r.kind == "notes" then
    local k = key(r)
    local list = self.pending[k] or {}
    for _, n in ipairs(r.notes) do
      list[#list + 1] = n
    end
    self.pending[k] = list
  elseif r.kind == "bar" then
    self:_on_bar(r)
  elseif r.kind == "done" then
    if phase == "cancelling" then
      return self:_finish({ kind = "cancelled", reason = self.cancel_reason })
    end
    self:_on_done(r, now)
  elseif r.kind == "cancelled" then
    self:_finish({ kind = "cancelled", reason = self.cancel_reason or r.reason })
  end
end

--- Ask the server to stop the job (the user cancelled, or a newer job took its track).
function Job:cancel(reason, now)
  if self.finished or self.phase == "cancelling" then
    return
  end
  self.cancel_reason = reason
  if self.phase == "connect" or self.phase == "new" then
    return self:_finish({ kind = "cancelled", reason = reason })
  end
  self.outbox = {}
  self:_send(protocol.cancel(self.port, self.id))
  self:_enter("cancelling", now)
end

--- Timeouts and retries; call once per tick.
function Job:tick(now)
  if self.finished then
    return
  end
  local L, phase, waited = self.limits, self.phase, now - (self.since or now)
  if phase == "connect" then
    if waited >= L.connect_timeout then
      return self:_finish({ kind = "absent", message = "midigen-server does not answer" })
    elseif now - self.last_ping >= L.ping_interval then
      self.last_ping = now
      self:_send(protocol.ping(self.port))
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
  if phase == "upload" and #self.outbox == 0 and waited >= L.upload_timeout then
    if self.uploads >= L.upload_tries then
      return self:_finish({ kind = "failed", message = "the server did not confirm the upload" })
    end
    return self:_upload(now)
  elseif phase == "generate" and waited >= L.accept_timeout then
    return self:_finish({ kind = "failed", message = "the server did not accept the job" })
  elseif (phase == "running" or phase == "resend") and now - self.heard >= L.idle_timeout then
    if self.asked then
      self:cancel(("the server went silent for %g s"):format(2 * L.idle_timeout), now)
    else
      self.asked = true
      self.heard = now
      self:_send(protocol.result(self.port, self.id))
    end
  end
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
