--[[
The client's protocol module as a filter, for tests/test_reaper_contract.py, which checks it
against the server's own message models (server/daemon/protocol.py):

  lua5.4 wire_cli.lua client   every message the client sends, for a fixed example, one hex line each
  lua5.4 wire_cli.lua parse    hex lines of server messages -> "kind key=value ..." (sorted keys)
]]
local here = arg[0]:match("^(.*)/spec/tools/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local osc = require("midigen.osc")
local protocol = require("midigen.protocol")
local wire = require("midigen.protocol2")

local function hex(data)
  return (data:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function show(v)
  if type(v) == "table" then
    local parts = {}
    for _, item in ipairs(v) do
      parts[#parts + 1] = type(item) == "table"
        and ("%d@%g+%g:%d"):format(item.pitch, item.start, item.duration, item.velocity) or tostring(item)
    end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  return math.type(v) == "float" and ("%.6g"):format(v) or tostring(v)
end

if arg[1] == "client" then
  local sess = { port = 9001, token = 1729384 }
  local piece = { bars = 2, tempo = 96.5, meters = { { bar = 1, num = 4, den = 4 }, { bar = 2, num = 7, den = 8 } },
    tracks = {
      { name = "Klänge " .. string.rep("x", 70), program = 33, drum = false, notes = {
        { pitch = 36, start = 0, duration = 0.5, velocity = 100 }, { pitch = 38, start = 1 / 3, duration = 1 / 192, velocity = 1 } } },
      { name = "Drums", program = 0, drum = true, notes = {} },
    } }
  local up = wire.upload(sess, 5, piece)
  local out = { protocol.ping(9001), wire.hello(9001, "rpr0123456789abcdef") }
  table.move(up.all, 1, #up.all, #out + 1, out)
  out[#out + 1] = wire.generate(sess, 7, 5, { mode = "infill", variations = 2, temperature = 0.8, top_p = 0.95, seed = -1,
    velocity = true, microtiming = false, selections = {
      { track = 1, first = 2, last = 2, density = 6, pitch_min = 30, pitch_max = 60 },
      { track = 2, first = 1, last = 2, program = 0 } } })
  for _, d in ipairs({ wire.status(sess, 7), wire.result(sess, 7), wire.cancel(sess, 7), wire.bye(sess) }) do
    out[#out + 1] = d
  end
  for _, d in ipairs(out) do
    print(hex(d))
  end
elseif arg[1] == "parse" then
  for line in io.lines() do
    local data = line:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
    local message = assert(osc.decode(data))[1]
    local r, why = wire.parse(message)
    if not r then
      print("error " .. why)
    else
      local keys = {}
      for k in pairs(r) do
        if k ~= "kind" then
          keys[#keys + 1] = k
        end
      end
      table.sort(keys)
      local parts = { r.kind }
      for _, k in ipairs(keys) do
        parts[#parts + 1] = k .. "=" .. show(r[k])
      end
      print(table.concat(parts, " "))
    end
  end
else
  io.stderr:write("usage: lua5.4 wire_cli.lua client|parse\n")
  os.exit(2)
end
