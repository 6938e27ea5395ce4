--[[
Protocol 1 (the first docs/osc-protocol.md), kept so the scripts work with a server that has
not moved to protocol 2. Same functions as protocol2.lua: messages built from plain tables
(`sess` = { port = our reply port }), replies parsed into the tables job.lua reads, with times
in quarter notes.

What protocol 1 lacks, this dialect answers with nil (no /hello, no /status) and job.lua does
without. A piece is uploaded under its job's number; an /error is read as a refusal (job.lua
treats one that comes after /accepted as the job failing).
]]

local osc = require("midigen.osc")

local dialect = {}

dialect.VERSION = 1
dialect.NOTES_PER_MESSAGE = 64 -- the server takes 256; 64 keeps a datagram under one MTU
dialect.HEARTBEAT = nil -- no /status: silence is probed with /result
dialect.UPLOAD_WAIT = 3.0 -- no /uploaded by then: upload again from the start

local P = "/midigen"

function dialect.hello()
  return nil -- protocol 1 knows a client by its host and reply port
end

function dialect.status()
  return nil
end

--- The upload of `piece` as { all = every datagram in order, finish = /upload/end }.
--- piece = { bars, tempo, meters = { {bar, num, den} }, tracks = { {name, program, drum,
--- notes} } }, note times in piece quarter notes.
function dialect.upload(sess, piece_no, piece)
  local port = sess.port
  local all = { osc.encode(P .. "/upload/begin", "iiiif", port, piece_no, #piece.tracks, piece.bars, piece.tempo) }
  for t, track in ipairs(piece.tracks) do
    all[#all + 1] = osc.encode(P .. "/upload/track", "iiiiis", port, piece_no, t, track.program,
      track.drum and 1 or 0, osc.truncate(track.name or "", 128))
  end
  for _, m in ipairs(piece.meters) do
    all[#all + 1] = osc.encode(P .. "/upload/meter", "iiiii", port, piece_no, m.bar, m.num, m.den)
  end
  local count = 0
  for t, track in ipairs(piece.tracks) do
    for i = 1, #track.notes, dialect.NOTES_PER_MESSAGE do
      local types, args = { "iii" }, { port, piece_no, t }
      for k = i, math.min(i + dialect.NOTES_PER_MESSAGE - 1, #track.notes) do
        local n = track.notes[k]
        types[#types + 1] = "iffi"
        table.move({ n.pitch, n.start, n.duration, n.velocity }, 1, 4, #args + 1, args)
        count = count + 1
      end
      all[#all + 1] = osc.encode_list(P .. "/upload/notes", table.concat(types), args)
    end
  end
  local finish = osc.encode(P .. "/upload/end", "iii", port, piece_no, count)
  all[#all + 1] = finish
  return { all = all, finish = finish }
end

local CONTROLS = { "program", "density", "poly_min", "poly_max", "dur_min", "dur_max" }

--- /generate for request = { mode, variations, temperature, top_p, seed, velocity (bool),
--- microtiming (bool), selections = { {track, first, last, <controls>} } }; nil controls are
--- sent as -1 ("any"). Protocol 1 has no pitch register: pitch_min/max are not sent.
function dialect.generate(sess, job, _, request)
  local types = { "iisiffiii" }
  local args = { sess.port, job, request.mode, request.variations, request.temperature,
    request.top_p, request.seed, request.velocity and 1 or 0, request.microtiming and 1 or 0 }
  for _, s in ipairs(request.selections) do
    types[#types + 1] = "iiiiiiiii"
    table.move({ s.track, s.first, s.last }, 1, 3, #args + 1, args)
    for _, key in ipairs(CONTROLS) do
      args[#args + 1] = s[key] or -1
    end
  end
  return osc.encode_list(P .. "/generate", table.concat(types), args)
end

function dialect.cancel(sess, job)
  return osc.encode(P .. "/cancel", "ii", sess.port, job)
end

function dialect.result(sess, job)
  return osc.encode(P .. "/result", "ii", sess.port, job)
end

-- Replies: address -> kind, the fixed fields' type tags and names.
local REPLIES = {
  [P .. "/pong"] = { "pong", "isssiis", { "protocol", "version", "model", "device", "window_bars", "max_tracks", "controls" } },
  [P .. "/uploaded"] = { "uploaded", "ii", { "piece", "notes" } },
  [P .. "/accepted"] = { "accepted", "ii", { "job", "position" } },
  [P .. "/progress"] = { "progress", "if", { "job", "fraction" } },
  [P .. "/notes"] = { "notes", "iiii", { "job", "variation", "track", "bar" } },
  [P .. "/bar"] = { "bar", "iiiiiff", { "job", "variation", "track", "bar", "notes", "start", "finish" } },
  [P .. "/done"] = { "done", "iiiffffii", { "job", "variations", "bars", "queue_ms", "first_bar_ms", "model_ms", "total_ms", "tokens", "seed" } },
  [P .. "/cancelled"] = { "cancelled", "is", { "job", "reason" } },
  [P .. "/error"] = { "refused", "iss", { "number", "code", "message" } },
}

--- A decoded OSC message (osc.decode) as { kind =, ... }, or nil and why.
function dialect.parse(message)
  local spec = REPLIES[message.address]
  if not spec then
    return nil, "unknown reply " .. message.address
  end
  local kind, types, names = spec[1], spec[2], spec[3]
  if message.types:sub(1, #types) ~= types then
    return nil, ("%s: type tags %s, expected %s"):format(message.address, message.types, types)
  end
  local out = { kind = kind }
  for i, name in ipairs(names) do
    out[name] = message.args[i]
  end
  if kind == "notes" then
    local rest = message.types:sub(#types + 1)
    if rest ~= string.rep("iffi", #rest // 4) then
      return nil, message.address .. ": notes must be pitch, start, duration, velocity groups"
    end
    out.notes = {}
    local a = message.args
    for i = #types + 1, #message.types, 4 do
      out.notes[#out.notes + 1] = { pitch = a[i], start = a[i + 1], duration = a[i + 2], velocity = a[i + 3] }
    end
  elseif #message.types ~= #types then
    return nil, ("%s: %d arguments, expected %d"):format(message.address, #message.types, #types)
  end
  return out
end

return dialect
