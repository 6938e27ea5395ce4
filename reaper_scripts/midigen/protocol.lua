--[[
The midigen OSC protocol as the REAPER client speaks it (docs/osc-protocol.md): every message
the client sends, built from plain tables, and every reply parsed into a named table.

This is the one module that knows argument orders and addresses; the job logic (job.lua) works
on the tables. A new protocol version changes this file (and the version check in job.lua).
]]

local osc = require("midigen.osc")

local protocol = {}

protocol.VERSION = 1
protocol.NOTES_PER_MESSAGE = 64 -- the server takes 256; 64 keeps a datagram under one MTU

local P = "/midigen"

local function note_args(types, args, list)
  for _, n in ipairs(list) do
    types[#types + 1] = "iffi"
    args[#args + 1] = n.pitch
    args[#args + 1] = n.start
    args[#args + 1] = n.duration
    args[#args + 1] = n.velocity
  end
end

function protocol.ping(port)
  return osc.encode(P .. "/ping", "i", port)
end

--- The datagrams that upload `piece` under `job`, in order: begin, tracks, meters, notes,
--- end. piece = { bars =, tempo =, meters = { {bar, num, den} }, tracks = { {name, program,
--- drum, notes = {...}} } } with times in piece quarter notes.
function protocol.upload(port, job, piece)
  local out = { osc.encode(P .. "/upload/begin", "iiiif", port, job, #piece.tracks, piece.bars, piece.tempo) }
  for t, track in ipairs(piece.tracks) do
    out[#out + 1] = osc.encode(P .. "/upload/track", "iiiiis", port, job, t, track.program,
      track.drum and 1 or 0, (track.name or ""):sub(1, 128))
  end
  for _, m in ipairs(piece.meters) do
    out[#out + 1] = osc.encode(P .. "/upload/meter", "iiiii", port, job, m.bar, m.num, m.den)
  end
  local count = 0
  for t, track in ipairs(piece.tracks) do
    for i = 1, #track.notes, protocol.NOTES_PER_MESSAGE do
      local types, args = { "iii" }, { port, job, t }
      local chunk = table.move(track.notes, i, math.min(i + protocol.NOTES_PER_MESSAGE - 1, #track.notes), 1, {})
      note_args(types, args, chunk)
      out[#out + 1] = osc.encode_list(P .. "/upload/notes", table.concat(types), args)
      count = count + #chunk
    end
  end
  out[#out + 1] = osc.encode(P .. "/upload/end", "iii", port, job, count)
  return out, count
end

--- /generate for request = { mode, variations, temperature, top_p, seed, velocity (bool),
--- microtiming (bool), selections = { {track, first, last, program, density, poly_min,
--- poly_max, dur_min, dur_max} } }; nil controls are sent as -1 ("any").
function protocol.generate(port, job, request)
  local types = { "iisiffiii" }
  local args = { port, job, request.mode, request.variations, request.temperature, request.top_p,
    request.seed, request.velocity and 1 or 0, request.microtiming and 1 or 0 }
  for _, s in ipairs(request.selections) do
    types[#types + 1] = "iiiiiiiii"
    for _, v in ipairs({ s.track, s.first, s.last }) do
      args[#args + 1] = v
    end
    for _, key in ipairs({ "program", "density", "poly_min", "poly_max", "dur_min", "dur_max" }) do
      args[#args + 1] = s[key] or -1
    end
  end
  return osc.encode_list(P .. "/generate", table.concat(types), args)
end

function protocol.cancel(port, job)
  return osc.encode(P .. "/cancel", "ii", port, job)
end

function protocol.result(port, job)
  return osc.encode(P .. "/result", "ii", port, job)
end

-- Replies: address -> kind, the fixed fields' type tags and names.
local REPLIES = {
  [P .. "/pong"] = { "pong", "isssiis", { "protocol", "version", "model", "device", "window_bars", "max_tracks", "controls" } },
  [P .. "/uploaded"] = { "uploaded", "ii", { "job", "notes" } },
  [P .. "/accepted"] = { "accepted", "ii", { "job", "position" } },
  [P .. "/progress"] = { "progress", "if", { "job", "fraction" } },
  [P .. "/notes"] = { "notes", "iiii", { "job", "variation", "track", "bar" } },
  [P .. "/bar"] = { "bar", "iiiiiff", { "job", "variation", "track", "bar", "notes", "start", "finish" } },
  [P .. "/done"] = { "done", "iiiffffii", { "job", "variations", "bars", "queue_ms", "first_bar_ms", "model_ms", "total_ms", "tokens", "seed" } },
  [P .. "/cancelled"] = { "cancelled", "is", { "job", "reason" } },
  [P .. "/error"] = { "error", "iss", { "job", "code", "message" } },
  [P .. "/playing"] = { "playing", "ii", { "job", "variation" } },
}

--- A decoded OSC message (osc.decode) as { kind =, job =, ... }, or nil and why: an address
--- we do not know, or arguments that do not match the protocol.
function protocol.parse(message)
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
    if #rest % 4 ~= 0 or rest ~= string.rep("iffi", #rest // 4) then
      return nil, message.address .. ": notes must be pitch, start, duration, velocity groups"
    end
    out.notes = {}
    for i = #types + 1, #message.types, 4 do
      local a = message.args
      out.notes[#out.notes + 1] = { pitch = a[i], start = a[i + 1], duration = a[i + 2], velocity = a[i + 3] }
    end
  elseif #message.types ~= #types then
    return nil, ("%s: %d arguments, expected %d"):format(message.address, #message.types, #types)
  end
  return out
end

return protocol
