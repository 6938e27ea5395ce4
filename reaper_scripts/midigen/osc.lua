--[[
OSC 1.0 messages and bundles in pure Lua 5.4 (string.pack / string.unpack).

Why our own: REAPER ships no OSC library a script can use, and LuaSocket only moves bytes. The
format is small: a padded address, a padded type-tag string, then big-endian arguments, every
part padded with NULs to a multiple of 4 bytes.

Encoding takes the type tags explicitly ("iifs"), because Lua 5.4 numbers do not say whether the
protocol wants an int32 or a float32. Decoding never raises on bad input: it returns nil and a
one-line reason, so a stray datagram cannot stop the script.
]]

local osc = {}

local INT32_MIN, INT32_MAX = -2147483648, 2147483647

-- "s" padded with at least one NUL to a multiple of 4 bytes.
local function padded_string(s)
  return s .. string.rep("\0", 4 - (#s % 4))
end

local function padded_blob(b)
  return string.pack(">i4", #b) .. b .. string.rep("\0", (4 - (#b % 4)) % 4)
end

local encoders = {
  i = function(v, n)
    if math.type(v) ~= "integer" then
      local f = tonumber(v)
      if f == nil or f ~= math.floor(f) then
        error(("osc: argument %d (i) must be an integer, got %s"):format(n, tostring(v)), 0)
      end
      v = math.tointeger(f)
    end
    if v < INT32_MIN or v > INT32_MAX then
      error(("osc: argument %d (i) = %d is outside int32"):format(n, v), 0)
    end
    return string.pack(">i4", v)
  end,
  f = function(v, n)
    if type(v) ~= "number" then
      error(("osc: argument %d (f) must be a number, got %s"):format(n, tostring(v)), 0)
    end
    return string.pack(">f", v)
  end,
  d = function(v, n)
    if type(v) ~= "number" then
      error(("osc: argument %d (d) must be a number, got %s"):format(n, tostring(v)), 0)
    end
    return string.pack(">d", v)
  end,
  h = function(v, n)
    if math.type(v) ~= "integer" then
      error(("osc: argument %d (h) must be an integer, got %s"):format(n, tostring(v)), 0)
    end
    return string.pack(">i8", v)
  end,
  s = function(v, n)
    if type(v) ~= "string" or v:find("\0", 1, true) then
      error(("osc: argument %d (s) must be a string without NUL, got %s"):format(n, tostring(v)), 0)
    end
    return padded_string(v)
  end,
  b = function(v, n)
    if type(v) ~= "string" then
      error(("osc: argument %d (b) must be a string of bytes"):format(n), 0)
    end
    return padded_blob(v)
  end,
  -- Tags that carry no bytes: the value is ignored.
  T = function() return "" end,
  F = function() return "" end,
  N = function() return "" end,
  I = function() return "" end,
}

--- One OSC message as bytes. `types` has one tag per argument (i f s b d h T F N I);
--- a wrong argument raises an error naming its position and tag.
function osc.encode(address, types, ...)
  if type(address) ~= "string" or address:sub(1, 1) ~= "/" then
    error("osc: the address must be a string starting with '/', got " .. tostring(address), 0)
  end
  types = types or ""
  local args = table.pack(...)
  if args.n ~= #types then
    error(("osc: %s: %d type tags but %d arguments"):format(address, #types, args.n), 0)
  end
  local parts = { padded_string(address), padded_string("," .. types) }
  for n = 1, #types do
    local tag = types:sub(n, n)
    local encode = encoders[tag]
    if not encode then
      error(("osc: %s: unknown type tag '%s'"):format(address, tag), 0)
    end
    parts[#parts + 1] = encode(args[n], n)
  end
  return table.concat(parts)
end

--- Like encode, with the arguments in a list (for messages built in loops).
function osc.encode_list(address, types, args)
  return osc.encode(address, types, table.unpack(args, 1, #types))
end

--- `s` cut to at most `n` characters without splitting one; text that is not valid UTF-8
--- keeps only its ASCII, since receivers may refuse invalid strings.
function osc.truncate(s, n)
  if not utf8.len(s) then
    s = s:gsub("[\128-\255]", "")
  end
  local cut = utf8.offset(s, n + 1)
  return cut and s:sub(1, cut - 1) or s
end

--- An OSC bundle of already-encoded messages (time tag 1: "immediately").
function osc.bundle(messages, timetag)
  local parts = { padded_string("#bundle"), string.pack(">I8", timetag or 1) }
  for _, m in ipairs(messages) do
    parts[#parts + 1] = string.pack(">i4", #m) .. m
  end
  return table.concat(parts)
end

-- Reads a padded string at `pos`; returns it and the next position, or nil.
local function read_string(data, pos)
  local nul = data:find("\0", pos, true)
  if not nul then
    return nil
  end
  local s = data:sub(pos, nul - 1)
  local next_pos = pos + (#s // 4 + 1) * 4
  if next_pos > #data + 1 then
    return nil
  end
  return s, next_pos
end

local fixed = { i = { ">i4", 4 }, f = { ">f", 4 }, d = { ">d", 8 }, h = { ">i8", 8 }, t = { ">I8", 8 } }
local constants = { T = true, F = false }

local function decode_message(data)
  local address, pos = read_string(data, 1)
  if not address or address:sub(1, 1) ~= "/" then
    return nil, "osc: not an OSC message (no address)"
  end
  if pos > #data then
    return { address = address, types = "", args = {} } -- very old senders omit the tags
  end
  local tags
  tags, pos = read_string(data, pos)
  if not tags or tags:sub(1, 1) ~= "," then
    return nil, "osc: " .. address .. ": no type tag string"
  end
  tags = tags:sub(2)
  local args = {}
  for n = 1, #tags do
    local tag = tags:sub(n, n)
    local spec = fixed[tag]
    if spec then
      if pos + spec[2] - 1 > #data then
        return nil, ("osc: %s: argument %d (%s) is cut short"):format(address, n, tag)
      end
      args[n] = string.unpack(spec[1], data, pos)
      pos = pos + spec[2]
    elseif tag == "s" or tag == "S" then
      local s
      s, pos = read_string(data, pos)
      if not s then
        return nil, ("osc: %s: argument %d (s) is not terminated"):format(address, n)
      end
      args[n] = s
    elseif tag == "b" then
      if pos + 3 > #data then
        return nil, ("osc: %s: argument %d (b) is cut short"):format(address, n)
      end
      local size = string.unpack(">i4", data, pos)
      if size < 0 or pos + 4 + size - 1 > #data then
        return nil, ("osc: %s: argument %d (b) is cut short"):format(address, n)
      end
      args[n] = data:sub(pos + 4, pos + 3 + size)
      pos = pos + 4 + size + (4 - size % 4) % 4
    elseif constants[tag] ~= nil then
      args[n] = constants[tag]
    elseif tag == "N" or tag == "I" then
      args[n] = false
    else
      return nil, ("osc: %s: unknown type tag '%s'"):format(address, tag)
    end
  end
  return { address = address, types = tags, args = args }
end

local function decode_into(data, out, depth)
  if depth > 8 then
    return nil, "osc: bundles nested too deep"
  end
  if data:sub(1, 8) ~= "#bundle\0" then
    local m, err = decode_message(data)
    if not m then
      return nil, err
    end
    out[#out + 1] = m
    return out
  end
  local pos = 17 -- after "#bundle\0" and the 8-byte time tag
  if #data < 16 then
    return nil, "osc: bundle is cut short"
  end
  while pos <= #data do
    if pos + 3 > #data then
      return nil, "osc: bundle element size is cut short"
    end
    local size = string.unpack(">i4", data, pos)
    if size <= 0 or size % 4 ~= 0 or pos + 3 + size > #data then
      return nil, "osc: bundle element has a bad size"
    end
    local ok, err = decode_into(data:sub(pos + 4, pos + 3 + size), out, depth + 1)
    if not ok then
      return nil, err
    end
    pos = pos + 4 + size
  end
  return out
end

--- Every message in a datagram (a message, or a bundle of them, flattened in order), as
--- { address =, types =, args = {...} } tables; or nil and a one-line reason.
function osc.decode(data)
  if type(data) ~= "string" or #data == 0 or #data % 4 ~= 0 then
    return nil, "osc: a datagram must be a non-empty multiple of 4 bytes"
  end
  return decode_into(data, {}, 0)
end

return osc
