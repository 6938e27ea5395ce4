--[[
Protocol 2 (docs/osc-protocol.md, version 2): a client says /hello with its client id and gets a token
that starts every later message; pieces are uploaded in numbered chunks and the server names
the missing ones; times are integer ticks, 96 per quarter; a refused request (/refused) is
told apart from an accepted job that failed (/failed); /status is the liveness heartbeat.

A dialect module (see protocol.lua): `sess` = { port = our reply port, token = from
/welcome }; replies come out with times in quarter notes, so nothing else sees ticks.
]]

local osc = require("midigen.osc")

local dialect = {}

dialect.VERSION = 2
dialect.TICKS = 96 -- per quarter note
dialect.NOTES_PER_MESSAGE = 60
dialect.HEARTBEAT = 5.0 -- /status at least every 10 s while a job is live; we send every 5
dialect.UPLOAD_WAIT = 1.0 -- then /upload/end again (at most 5 times)
dialect.NAME_CHARS = 64

local P = "/midigen"

--- Quarter notes to ticks, rounding half up, as the plan requires.
function dialect.ticks(quarters)
  return math.floor(quarters * dialect.TICKS + 0.5)
end

function dialect.hello(port, client_id)
  return osc.encode(P .. "/hello", "iis", dialect.VERSION, port, client_id)
end

function dialect.bye(sess)
  return osc.encode(P .. "/bye", "i", sess.token)
end

function dialect.status(sess, job)
  return osc.encode(P .. "/status", "ii", sess.token, job)
end

--- The upload of `piece` under `piece_no`: { all = every datagram in order, tracks = {...},
--- meters = {...}, chunks = { [n] = datagram }, finish = /upload/end }, so that what
--- /upload/missing names can be sent again.
function dialect.upload(sess, piece_no, piece)
  local token = sess.token
  local up = { tracks = {}, meters = {}, chunks = {} }
  local begin = osc.encode(P .. "/upload/begin", "iiiif", token, piece_no, #piece.tracks, piece.bars, piece.tempo)
  for t, track in ipairs(piece.tracks) do
    up.tracks[t] = osc.encode(P .. "/upload/track", "iiiiis", token, piece_no, t, track.program,
      track.drum and 1 or 0, osc.truncate(track.name or "", dialect.NAME_CHARS))
  end
  for i, m in ipairs(piece.meters) do
    up.meters[i] = osc.encode(P .. "/upload/meter", "iiiii", token, piece_no, m.bar, m.num, m.den)
  end
  local count = 0
  for t, track in ipairs(piece.tracks) do
    for i = 1, #track.notes, dialect.NOTES_PER_MESSAGE do
      local chunk = #up.chunks + 1
      local types, args = { "iiii" }, { token, piece_no, chunk, t }
      for k = i, math.min(i + dialect.NOTES_PER_MESSAGE - 1, #track.notes) do
        local n = track.notes[k]
        local start = dialect.ticks(n.start)
        local duration = math.max(1, dialect.ticks(n.start + n.duration) - start)
        types[#types + 1] = "iiii"
        table.move({ n.pitch, start, duration, n.velocity }, 1, 4, #args + 1, args)
        count = count + 1
      end
      up.chunks[chunk] = osc.encode_list(P .. "/upload/notes", table.concat(types), args)
    end
  end
  up.finish = osc.encode(P .. "/upload/end", "iiiiii", token, piece_no, #up.tracks, #up.meters, #up.chunks, count)
  up.all = { begin }
  for _, part in ipairs({ up.tracks, up.meters, up.chunks }) do
    table.move(part, 1, #part, #up.all + 1, up.all)
  end
  up.all[#up.all + 1] = up.finish
  return up
end

--- What to send again for an /upload/missing answer: all tracks or meters when any is
--- missing, the named chunks, then /upload/end.
function dialect.resend(up, missing)
  local out = {}
  if missing.tracks > 0 then
    table.move(up.tracks, 1, #up.tracks, 1, out)
  end
  if missing.meters > 0 then
    table.move(up.meters, 1, #up.meters, #out + 1, out)
  end
  for _, n in ipairs(missing.chunks) do
    out[#out + 1] = up.chunks[n]
  end
  out[#out + 1] = up.finish
  return out
end

local CONTROLS = { "program", "density", "poly_min", "poly_max", "dur_min", "dur_max", "pitch_min", "pitch_max" }

--- /generate on piece `piece_no` for request = { mode, variations, temperature, top_p, seed,
--- velocity (bool), microtiming (bool), selections = { {track, first, last, program,
--- density, poly_min, poly_max, dur_min, dur_max, pitch_min, pitch_max} } }; nil controls
--- are sent as -1 ("any").
function dialect.generate(sess, job, piece_no, request)
  local types = { "iiisiffiii" }
  local args = { sess.token, job, piece_no, request.mode, request.variations, request.temperature,
    request.top_p, request.seed, request.velocity and 1 or 0, request.microtiming and 1 or 0 }
  for _, s in ipairs(request.selections) do
    types[#types + 1] = "iiiiiiiiiii"
    table.move({ s.track, s.first, s.last }, 1, 3, #args + 1, args)
    for _, key in ipairs(CONTROLS) do
      args[#args + 1] = s[key] or -1
    end
  end
  return osc.encode_list(P .. "/generate", table.concat(types), args)
end

function dialect.cancel(sess, job)
  return osc.encode(P .. "/cancel", "ii", sess.token, job)
end

--- Every bar group of a finished job again, then its final message.
function dialect.result(sess, job)
  return osc.encode(P .. "/result", "iiiiii", sess.token, job, 0, 0, 0, 0)
end

local REPLIES = {
  [P .. "/pong"] = { "pong", "isssiiis", { "protocol", "version", "model", "device", "window_bars", "max_tracks", "rcvbuf", "controls" } },
  [P .. "/welcome"] = { "welcome", "iisssiiis", { "token", "protocol", "version", "model", "device", "window_bars", "max_tracks", "rcvbuf", "controls" } },
  [P .. "/uploaded"] = { "uploaded", "ii", { "piece", "notes" } },
  [P .. "/upload/missing"] = { "upload_missing", "iii", { "piece", "tracks", "meters" } },
  [P .. "/accepted"] = { "accepted", "ii", { "job", "position" } },
  [P .. "/progress"] = { "progress", "if", { "job", "fraction" } },
  [P .. "/notes"] = { "notes", "iiii", { "job", "variation", "track", "bar" } },
  [P .. "/bar"] = { "bar", "iiiiiii", { "job", "variation", "track", "bar", "notes", "start", "finish" } },
  [P .. "/done"] = { "done", "iiiffffii", { "job", "variations", "bars", "queue_ms", "first_bar_ms", "model_ms", "total_ms", "tokens", "seed" } },
  [P .. "/cancelled"] = { "cancelled", "is", { "job", "reason" } },
  [P .. "/failed"] = { "failed", "iss", { "job", "code", "message" } },
  [P .. "/refused"] = { "refused", "ssis", { "address", "code", "number", "message" } },
  [P .. "/state"] = { "state", "isiii", { "job", "state", "position", "bars_sent", "bars_total" } },
  [P .. "/playing"] = { "playing", "ii", { "job", "variation" } },
}

--- A decoded OSC message as { kind =, ... } with times in quarter notes, or nil and why.
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
  local rest, a = message.types:sub(#types + 1), message.args
  if kind == "notes" then
    if rest ~= string.rep("iiii", #rest // 4) then
      return nil, message.address .. ": notes must be pitch, start, duration, velocity groups"
    end
    out.notes = {}
    for i = #types + 1, #message.types, 4 do
      out.notes[#out.notes + 1] = { pitch = a[i], start = a[i + 1] / dialect.TICKS,
        duration = a[i + 2] / dialect.TICKS, velocity = a[i + 3] }
    end
  elseif kind == "upload_missing" then
    if rest ~= string.rep("i", #rest) then
      return nil, message.address .. ": chunk numbers must be ints"
    end
    out.chunks = table.move(a, #types + 1, #message.types, 1, {})
  elseif #rest > 0 then
    return nil, ("%s: %d arguments, expected %d"):format(message.address, #message.types, #types)
  end
  if kind == "bar" then
    out.start, out.finish = out.start / dialect.TICKS, out.finish / dialect.TICKS
  end
  return out
end

return dialect
