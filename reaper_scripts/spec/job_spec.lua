-- The job state machine with a fake clock and replies built as the server sends them.
package.path = "./?.lua;" .. package.path
local Job = require("midigen.job")
local osc = require("midigen.osc")
local protocol = require("midigen.protocol")

local PIECE = { bars = 2, tempo = 120, meters = { { bar = 1, num = 4, den = 4 } },
  tracks = { { name = "Bass", program = 33, drum = false, notes = { { pitch = 36, start = 0, duration = 1, velocity = 100 } } } } }
local REQUEST = { mode = "infill", variations = 1, temperature = 1, top_p = 1, seed = -1, velocity = true,
  microtiming = false, selections = { { track = 1, first = 2, last = 2 } } }

local function reply(address, types, ...)
  return assert(protocol.parse(assert(osc.decode(osc.encode("/midigen/" .. address, types, ...)))[1]))
end

local function pong(version)
  return reply("pong", "isssiis", version or protocol.VERSION, "0.1.0", "m", "cpu", 4, 8, "")
end

local function addresses(job)
  local out = {}
  for _, d in ipairs(job:take_datagrams()) do
    out[#out + 1] = osc.decode(d)[1].address:sub(10)
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

local function new_job(limits)
  local job = Job.new({ id = 7, port = 9001, request = REQUEST, limits = limits,
    make_piece = function() return PIECE end })
  job:start(0)
  return job
end

local function to_running(job)
  job:receive(pong(), 0.1)
  job:receive(reply("uploaded", "ii", 7, 1), 0.2)
  job:receive(reply("accepted", "ii", 7, 0), 0.3)
  job:take_datagrams()
  job:take_events()
end

describe("a job", function()
  it("pings, uploads after /pong, generates after /uploaded", function()
    local job = new_job()
    assert.are.equal("ping", addresses(job))
    job:receive(pong(), 0.1)
    assert.are.equal("upload/begin upload/track upload/meter upload/notes upload/end", addresses(job))
    job:receive(reply("uploaded", "ii", 7, 1), 0.2)
    assert.are.equal("generate", addresses(job))
  end)

  it("streams each bar once its /bar count matches, then ends with done", function()
    local job = new_job()
    to_running(job)
    job:receive(reply("notes", "iiiiiffi", 7, 1, 1, 2, 40, 4.0, 1.0, 90), 1)
    job:receive(reply("bar", "iiiiiff", 7, 1, 1, 2, 1, 4.0, 8.0), 1)
    local events = job:take_events()
    assert.are.equal("bar", events[1].kind)
    assert.are.same({ { pitch = 40, start = 4.0, duration = 1.0, velocity = 90 } }, events[1].notes)
    job:receive(reply("done", "iiiffffii", 7, 1, 1, 0, 1, 1, 2, 10, 42), 2)
    assert.are.equal("done", kinds(job))
    assert.is_true(job.finished)
  end)

  it("asks again with /result when a /notes datagram was lost, and delivers each bar once", function()
    local job = new_job()
    to_running(job)
    job:receive(reply("bar", "iiiiiff", 7, 1, 1, 1, 0, 0.0, 4.0), 1) -- an empty bar: complete
    job:receive(reply("bar", "iiiiiff", 7, 1, 1, 2, 1, 4.0, 8.0), 1) -- its /notes was lost
    job:receive(reply("done", "iiiffffii", 7, 1, 2, 0, 1, 1, 2, 10, 42), 2)
    assert.are.equal("bar", kinds(job))
    assert.are.equal("result", addresses(job))
    assert.is_false(job.finished)
    job:receive(reply("bar", "iiiiiff", 7, 1, 1, 1, 0, 0.0, 4.0), 2.1)
    job:receive(reply("notes", "iiiiiffi", 7, 1, 1, 2, 40, 4.0, 1.0, 90), 2.1)
    job:receive(reply("bar", "iiiiiff", 7, 1, 1, 2, 1, 4.0, 8.0), 2.1)
    job:receive(reply("done", "iiiffffii", 7, 1, 2, 0, 1, 1, 2, 10, 42), 2.2)
    assert.are.equal("bar done", kinds(job))
  end)

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

  it("fails on /error with the server's text, and on an older protocol", function()
    local job = new_job()
    to_running(job)
    job:receive(reply("error", "iss", 7, "invalid_request", "bar 3 is in 11/8"), 1)
    local e = job:take_events()[1]
    assert.are.same({ "failed", "bar 3 is in 11/8 (invalid_request)" }, { e.kind, e.message })
    local old = new_job()
    old:receive(pong(protocol.VERSION + 1), 0.1)
    assert.truthy(old:take_events()[1].message:find("protocol"))
  end)

  it("uploads again when the server counted fewer notes", function()
    local job = new_job()
    job:receive(pong(), 0.1)
    job:take_datagrams()
    job:receive(reply("error", "iss", 7, "upload_incomplete", "0 of 1"), 0.2)
    assert.truthy(addresses(job):find("^upload/begin"))
    assert.is_false(job.finished)
  end)

  it("cancels with /cancel and ends cancelled when the server confirms or stays silent", function()
    local job = new_job()
    to_running(job)
    job:cancel("cancelled by the user", 1)
    assert.are.equal("cancel", addresses(job))
    job:receive(reply("cancelled", "is", 7, "cancel"), 1.1)
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

  it("times out: cancels on the server and reports it", function()
    local job = new_job({ timeout = 5 })
    to_running(job)
    job:tick(5)
    assert.are.equal("cancel", addresses(job))
    job:receive(reply("cancelled", "is", 7, "cancel"), 5.1)
    assert.are.equal("timed out after 5 s", job:take_events()[1].reason)
  end)

  it("sends at most `pace` datagrams per tick", function()
    local many = { bars = 1, tempo = 120, meters = {}, tracks = { { name = "", program = 0, notes = {} } } }
    for i = 1, 64 * 10 do
      many.tracks[1].notes[i] = { pitch = 60, start = 0, duration = 1, velocity = 1 }
    end
    local job = Job.new({ id = 1, port = 1, request = REQUEST, limits = { pace = 4 }, make_piece = function() return many end })
    job:start(0)
    job:receive(pong(), 0)
    local sizes = {}
    repeat
      local n = #job:take_datagrams()
      sizes[#sizes + 1] = n
    until n == 0
    assert.are.same({ 4, 4, 4, 2, 0 }, sizes) -- ping, begin, track, 10 notes, end = 14
  end)

  it("ignores replies for other jobs", function()
    local job = new_job()
    to_running(job)
    job:receive(reply("error", "iss", 8, "internal", "x"), 1)
    job:receive(reply("done", "iiiffffii", 8, 1, 1, 0, 1, 1, 2, 10, 42), 1)
    assert.are.equal("", kinds(job))
    assert.is_false(job.finished)
  end)
end)

describe("protocol.parse", function()
  it("refuses replies whose arguments do not match", function()
    local m = osc.decode(osc.encode("/midigen/bar", "iii", 1, 2, 3))[1]
    assert.is_nil((protocol.parse(m)))
    local notes = osc.decode(osc.encode("/midigen/notes", "iiiiif", 1, 1, 1, 1, 60, 0.5))[1]
    assert.is_nil((protocol.parse(notes)))
    assert.is_nil((protocol.parse({ address = "/other", types = "", args = {} })))
  end)
end)
