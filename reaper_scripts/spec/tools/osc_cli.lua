--[[
The OSC codec as a filter, so tests in other languages can compare bytes with it.

  lua5.4 osc_cli.lua encode   lines "address<TAB>types<TAB>arg<TAB>arg..." -> one hex line each
  lua5.4 osc_cli.lua decode   hex lines -> "address<TAB>types<TAB>arg..." (floats as %.9g)

Run from reaper_scripts/ (or with it on package.path).
]]
local here = arg[0]:match("^(.*)/spec/tools/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local osc = require("midigen.osc")

local function split(line)
  local out = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    out[#out + 1] = field
  end
  return out
end

local function value(tag, text)
  if tag == "i" or tag == "h" then
    return math.tointeger(tonumber(text))
  elseif tag == "f" or tag == "d" then
    return tonumber(text)
  elseif tag == "T" then
    return true
  elseif tag == "F" then
    return false
  end
  return text
end

local mode = arg[1]
for line in io.lines() do
  if mode == "encode" then
    local f = split(line)
    local types, args = f[2], {}
    for n = 1, #types do
      args[n] = value(types:sub(n, n), f[n + 2])
    end
    local data = osc.encode_list(f[1], types, args)
    print((data:gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
  elseif mode == "decode" then
    local data = line:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
    local out, err = osc.decode(data)
    if not out then
      print("error\t" .. err)
    else
      for _, m in ipairs(out) do
        local fields = { m.address, m.types }
        for n, v in ipairs(m.args) do
          fields[#fields + 1] = math.type(v) == "float" and ("%.9g"):format(v) or tostring(v)
          if n > #m.types then break end
        end
        print(table.concat(fields, "\t"))
      end
    end
  else
    io.stderr:write("usage: lua5.4 osc_cli.lua encode|decode < lines\n")
    os.exit(2)
  end
end
