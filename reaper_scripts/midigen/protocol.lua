--[[
Which protocol the server speaks. /midigen/ping and the first argument of /midigen/pong (the
protocol version) stay the same in every version, so a client pings first and then talks the
server's dialect. protocol2.lua (docs/osc-protocol.md, version 2) is the only one today; a
new version is a new module with the same functions (job.lua calls only those) and a line in
DIALECTS, and a server speaking an unknown version gets a clear message.
]]

local osc = require("midigen.osc")

local protocol = {}

protocol.DIALECTS = {
  [2] = "midigen.protocol2",
}

function protocol.ping(port)
  return osc.encode("/midigen/ping", "i", port)
end

--- The protocol version a decoded /midigen/pong announces, or nil for any other message.
function protocol.pong_version(message)
  if message.address == "/midigen/pong" and message.types:sub(1, 1) == "i" then
    return message.args[1]
  end
  return nil
end

--- The dialect module for a version, or nil when this client does not speak it.
function protocol.dialect(version)
  local name = protocol.DIALECTS[version]
  return name and require(name)
end

--- The newest version this client speaks, for messages to the user.
function protocol.newest()
  local newest = 0
  for v in pairs(protocol.DIALECTS) do
    newest = math.max(newest, v)
  end
  return newest
end

return protocol
