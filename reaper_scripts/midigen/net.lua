--[[
UDP through LuaSocket, never blocking. REAPER does not ship LuaSocket: users install the
"Mavriq Lua Sockets" package with ReaPack (repository
https://github.com/mavriq-dev/public-reascripts/raw/master/index.xml), which puts it under
<REAPER resource path>/Scripts/Mavriq ReaScript Repository/Various/Mavriq-Lua-Sockets/.
load_socket looks there after the ordinary package paths and says what to do when it is absent.
]]

local net = {}

net.MAVRIQ = "/Scripts/Mavriq ReaScript Repository/Various/Mavriq-Lua-Sockets/"

net.MISSING = [[midigen needs LuaSocket, which REAPER does not include.
Install it once with ReaPack:
  1. Extensions > ReaPack > Import repositories..., paste
     https://github.com/mavriq-dev/public-reascripts/raw/master/index.xml
  2. Extensions > ReaPack > Browse packages, install "Mavriq Lua Sockets"
  3. Run this action again.]]

--- The LuaSocket module, or nil and the message telling the user how to install it.
--- `resource_path` is REAPER's resource folder (GetResourcePath; nil outside REAPER).
function net.load_socket(resource_path)
  local ok, socket = pcall(require, "socket")
  if ok then
    return socket
  end
  if resource_path then
    local dir = resource_path .. net.MAVRIQ
    local ext = package.config:sub(1, 1) == "\\" and "dll" or "so"
    package.cpath = package.cpath .. ";" .. dir .. "?." .. ext
    package.path = package.path .. ";" .. dir .. "?.lua"
    ok, socket = pcall(require, "socket")
    if ok then
      return socket
    end
  end
  return nil, net.MISSING
end

--- The address our reply socket binds to for a server on `host`: loopback for a server on
--- this machine (nothing else can reach the port), every interface for one elsewhere (its
--- replies come from that host; the server must list ours with --allow).
function net.bind_address(host)
  local h = tostring(host or ""):lower()
  if h == "" or h == "localhost" or h == "::1" or h:match("^127%.%d+%.%d+%.%d+$") then
    return "127.0.0.1"
  end
  return "0.0.0.0"
end

local Udp = {}
Udp.__index = Udp

--- A UDP socket on a free loopback port with a zero timeout: receive never waits.
function net.open(socket, host)
  local udp, err = socket.udp()
  if not udp then
    return nil, "cannot open a UDP socket: " .. tostring(err)
  end
  local ok
  ok, err = udp:setsockname(host or "127.0.0.1", 0)
  if not ok then
    udp:close()
    return nil, "cannot bind a UDP port: " .. tostring(err)
  end
  udp:settimeout(0)
  local _, port = udp:getsockname()
  return setmetatable({ udp = udp, port = tonumber(port) }, Udp)
end

function Udp:send(data, host, port)
  return self.udp:sendto(data, host, port)
end

--- Every datagram waiting now (at most `max`), oldest first; never waits for one.
function Udp:drain(max)
  local out = {}
  for _ = 1, max or 1000 do
    local data = self.udp:receivefrom()
    if not data then
      break
    end
    out[#out + 1] = data
  end
  return out
end

function Udp:close()
  self.udp:close()
end

return net
