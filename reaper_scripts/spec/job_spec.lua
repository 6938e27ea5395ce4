-- The job state machine on a fake clock, fed replies as a protocol 2 server sends them.
package.path = "./?.lua;" .. package.path
local Job = require("midigen.job")
local osc = require("midigen.osc")
local protocol2 = require("midigen.protocol2")

local PIECE = { bars = 2, tempo = 120, meters = { { bar = 1, num = 4, den = 4 } },
  tracks = { { name = "Bass", program = 33, drum = false, notes = { { pitch = 36, start = 0, duration = 1, velocity = 100 } } } } }
local REQUEST = { mode = "infill", variations = 1, temperature = 1, top_p = 1, seed = -1, velocity = true,
  microtiming = false, selections = { { track = 1, first = 2, last = 2, pitch_min = 36, pitch_max = 60 } } }
local TOKEN = 1729384

local function msg(address, types, ...)
  return assert(osc.decode(osc.encode("/midigen/" .. address, types, ...)))[1]
end

local function pong(version)
  return msg("pong", "isssiiis", version or 2, "0.1.0", "m", "cpu", 4, 8, 4194304, "")
end

local WELCOME = msg("welcome", "iisssiiis", TOKEN, 2, "0.1.0", "m", "cpu", 4, 8, 4194304, "")

local function sent(job)
  local out = {}
  for _, d in ipairs(job:take_datagrams()) do
    out[#out + 1] = assert(osc.decode(d))[1]
  end
  return out
end

local function addresses(job)
  local out = {}
  for _, m in ipairs(sent(job)) do
    out[#out + 1] = m.address:sub(10)
  end
  return table.concat(out, " ")
end

local function kinds(job)
  local out = {}
  for _, e in ipairs(job:take_events()) do
    out[#out + 1] = e.kind
  end
  return table.concat(out, " ")
end

local function new_job(limits, replaces)
  local job = Job.new({ id = 7, port = 9001, client_id = "rprtest0123456789", request = REQUEST,
    limits = limits, replaces = replaces, piece = PIECE })
  job:start(0)
  return job
end

local function to_running(job)
  job:receive(pong(), 0.1)
  job:receive(WELCOME, 0.1)
  job:receive(msg("uploaded", "ii", 7, 1), 0.2)
  job:receive(msg("accepted", "ii", 7, 0), 0.3)
  job:take_datagrams()
  job:take_events()
end

describe("a job", function()
  it("pings, says hello, uploads with the token, generates after /uploaded", function()
    local job = new_job()
    assert.are.equal("ping", addresses(job))
    job:receive(pong(), 0.1)
    local hello = sent(job)[1]
    assert.are.same({ "/midigen/hello", { 2, 9001, "rprtest0123456789" } }, { hello.address, hello.args })
    job:receive(WELCOME, 0.1)
    local upload = sent(job)
    local names = {}
    for i, m in ipairs(upload) do
      names[i] = m.address:sub(10)
      assert.are.equal(TOKEN, m.args[1])
    end
    assert.are.equal("upload/begin upload/track upload/meter upload/notes upload/end", table.concat(names, " "))
    assert.are.same({ TOKEN, 7, 1, 1, 36, 0, 96, 100 }, upload[4].args) -- chunk 1, ticks
    assert.are.same({ TOKEN, 7, 1, 1, 1, 1 }, upload[5].args) -- tracks, meters, chunks, notes
    job:receive(msg("uploaded", "ii", 7, 1), 0.2)
    local generate = sent(job)[1]
    assert.are.same({ TOKEN, 7, 7, "infill" }, table.move(generate.args, 1, 4, 1, {}))
    assert.are.same({ 1, 2, 2, -1, -1, -1, -1, -1, -1, 36, 60 }, table.move(generate.args, 11, 21, 1, {}))
  end)

  it("resends what /upload/missing names, then /upload/end", function()
    local job = new_job()
    job:receive(pong(), 0.1)
    job:receive(WELCOME, 0.1)
    job:take_datagrams()
    job:receive(msg("upload/missing", "iiii", 7, 1, 0, 1), 0.3)
    assert.are.equal("upload/track upload/notes upload/end", addresses(job))
  end)

  it("sends /upload/end again after a second of silence, then gives up", function()
    local job = new_job({ upload_tries = 2 })
    job:receive(pong(), 0)
    job:receive(WELCOME, 0)
    job:take_datagrams()
    job:tick(0.9)
    assert.are.equal("", addresses(job))
    job:tick(1.0)
    assert.are.equal("upload/end", addresses(job))
    job:tick(2.0)
    assert.are.equal("failed", kinds(job):match("failed"))
  end)

  it("streams each bar in quarter notes once its /bar count matches, then ends with done", function()
    local job = new_job()
    to_running(job)
    job:receive(msg("notes", "iiiiiiii", 7, 1, 1, 2, 40, 384, 48, 90), 1)
    job:receive(msg("bar", "iiiiiii", 7, 1, 1, 2, 1, 384, 768), 1)
    local events = job:take_events()
    assert.are.equal("bar", events[1].kind)
    assert.are.same({ { pitch = 40, start = 4.0, duration = 0.5, velocity = 90 } }, events[1].notes)
    assert.are.same({ 4.0, 8.0 }, { events[1].start, events[1].finish })
    job:receive(msg("done", "iiiffffii", 7, 1, 1, 0, 1, 1, 2, 10, 42), 2)
    assert.are.equal("done", kinds(job))
    assert.is_true(job.finished)
  end)

  it("asks for a replay when a /notes datagram was lost, and delivers each bar once", function()
    local job = new_job()
    to_running(job)
    job:receive(msg("bar", "iiiiiii", 7, 1, 1, 1, 0, 0, 384), 1) -- an empty bar: complete
    job:receive(msg("bar", "iiiiiii", 7, 1, 1, 2, 1, 384, 768), 1) -- its /notes was lost
    job:receive(msg("done", "iiiffffii", 7, 1, 2, 0, 1, 1, 2, 10, 42), 2)
    assert.are.equal("bar", kinds(job))
    local result = sent(job)[1]
    assert.are.same({ "/midigen/result", { TOKEN, 7, 0, 0, 0, 0 } }, { result.address, result.args })
    job:receive(msg("bar", "iiiiiii", 7, 1, 1, 1, 0, 0, 384), 2.1)
    job:receive(msg("notes", "iiiiiiii", 7, 1, 1, 2, 40, 384, 48, 90), 2.1)
    job:receive(msg("bar", "iiiiiii", 7, 1, 1, 2, 1, 384, 768), 2.1)
    job:receive(msg("done", "iiiffffii", 7, 1, 2, 0, 1, 1, 2, 10, 42), 2.2)
    assert.are.equal("bar done", kinds(job))
  end)

  it("sends /status as a heartbeat while the job is live", function()
    local job = new_job()
    to_running(job)
    job:tick(4.9)
    assert.are.equal("", addresses(job))
    job:tick(5.0)
    assert.are.equal("status", addresses(job))
    job:receive(msg("state", "isiii", 7, "unknown", 0, 0, 0), 5.1)
    assert.are.equal("failed", kinds(job))
  end)

  it("tells a refusal's text, and a failure's", function()
    local job = new_job()
    job:receive(pong(), 0.1)
    job:receive(WELCOME, 0.1)
    job:receive(msg("uploaded", "ii", 7, 1), 0.2)
    job:receive(msg("refused", "ssis", "/midigen/generate", "invalid_request", 7, "bar 3 is in 11/8"), 0.3)
    local e = job:take_events()
    assert.are.same({ "failed", "bar 3 is in 11/8 (invalid_request)" }, { e[#e].kind, e[#e].message })
    local running = new_job()
    to_running(running)
    running:receive(msg("failed", "iss", 7, "internal", "boom"), 1)
    assert.are.equal("boom (internal)", running:take_events()[1].message)
  end)

  it("ignores refusals and replies about other jobs", function()
    local job = new_job(nil, 6)
    to_running(job)
    job:receive(msg("refused", "ssis", "/midigen/cancel", "unknown_job", 6, "no job 6"), 1)
    job:receive(msg("done", "iiiffffii", 8, 1, 1, 0, 1, 1, 2, 10, 42), 1)
    assert.are.equal("", kinds(job))
    assert.is_false(job.finished)
  end)

  it("cancels the job it replaces once it has a token", function()
    local job = new_job(nil, 6)
    job:receive(pong(), 0.1)
    job:take_datagrams()
    job:receive(WELCOME, 0.1)
    local first = sent(job)[1]
    assert.are.same({ "/midigen/cancel", { TOKEN, 6 } }, { first.address, first.args })
  end)

  it("introduces itself again when the server forgot the client during the upload", function()
    local job = new_job()
    job:receive(pong(), 0.1)
    job:receive(WELCOME, 0.1)
    job:take_datagrams()
    job:receive(msg("refused", "ssis", "/midigen/upload/end", "unknown_client", 7, "hello again"), 0.2)
    assert.are.equal("hello", addresses(job))
    job:receive(WELCOME, 0.3)
    assert.truthy(addresses(job):find("^upload/begin"))
  end)
end)

describe("a job, when things go wrong", function()
  it("says the server is absent when no /pong comes, after pinging again", function()
    local job = new_job({ ping_interval = 0.5, connect_timeout = 2 })
    job:take_datagrams()
    job:tick(0.6)
    assert.are.equal("ping", addresses(job))
    job:tick(1.9)
    assert.is_false(job.finished)
    job:tick(2.0)
    assert.are.equal("absent", kinds(job))
  end)

  it("refuses a server that speaks a protocol it does not", function()
    local job = new_job()
    job:receive(pong(99), 0.1)
    local e = job:take_events()[1]
    assert.are.equal("failed", e.kind)
    assert.truthy(e.message:find("protocol 99"))
  end)

  it("cancels with /cancel and ends cancelled when the server confirms or stays silent", function()
    local job = new_job()
    to_running(job)
    job:cancel("cancelled by the user", 1)
    assert.are.equal("cancel", addresses(job))
    job:receive(msg("cancelled", "is", 7, "cancel"), 1.1)
    local e = job:take_events()[1]
    assert.are.same({ "cancelled", "cancelled by the user" }, { e.kind, e.reason })
    local silent = new_job({ cancel_wait = 2 })
    to_running(silent)
    silent:cancel("x", 1)
    silent:tick(2.9)
    assert.is_false(silent.finished)
    silent:tick(3.0)
    assert.are.equal("cancelled", kinds(silent))
  end)

  it("times out: cancels on the server and says so", function()
    local job = new_job({ timeout = 5 })
    to_running(job)
    job:tick(4.9)
    job:take_datagrams()
    job:tick(5)
    assert.are.equal("cancel", addresses(job))
    job:receive(msg("cancelled", "is", 7, "cancel"), 5.1)
    assert.are.equal("timed out after 5 s", job:take_events()[1].reason)
  end)

  it("sends at most `pace` datagrams per tick", function()
    local many = { bars = 1, tempo = 120, meters = {}, tracks = { { name = "", program = 0, notes = {} } } }
    for i = 1, 60 * 10 do
      many.tracks[1].notes[i] = { pitch = 60, start = 0, duration = 1, velocity = 1 }
    end
    local job = Job.new({ id = 1, port = 1, client_id = "rprx0000000", request = REQUEST, limits = { pace = 4 },
      piece = many })
    job:start(0)
    job:receive(pong(), 0)
    job:receive(WELCOME, 0)
    local sizes = {}
    repeat
      local n = #job:take_datagrams()
      sizes[#sizes + 1] = n
    until n == 0
    assert.are.same({ 4, 4, 4, 3, 0 }, sizes) -- ping, hello, begin, track, 10 chunks, end = 15
  end)
end)

describe("protocol2.parse", function()
  it("refuses replies whose arguments do not match", function()
    assert.is_nil((protocol2.parse(msg("bar", "iii", 1, 2, 3))))
    assert.is_nil((protocol2.parse(msg("notes", "iiiiif", 1, 1, 1, 1, 60, 0.5))))
    assert.is_nil((protocol2.parse({ address = "/other", types = "", args = {} })))
  end)

  it("rounds quarters to ticks half up, never to a zero duration", function()
    assert.are.same({ 0, 1, 48, 32 }, { protocol2.ticks(0), protocol2.ticks(1 / 192), protocol2.ticks(0.5), protocol2.ticks(1 / 3) })
    local up = protocol2.upload({ token = 1 }, 1, { bars = 1, tempo = 120, meters = {}, tracks = {
      { name = "", program = 0, notes = { { pitch = 60, start = 0, duration = 0.001, velocity = 1 } } } } })
    assert.are.equal(1, osc.decode(up.chunks[1])[1].args[7])
  end)
end)
