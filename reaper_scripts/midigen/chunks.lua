--[[
Item state chunks (the RPP text of an item), just enough to add takes that copy another take's
MIDI. Why not AddTakeToMediaItem plus a new "MIDI" source: a take made that way has no PPQ map
and silently refuses inserted notes. Copying a take's <SOURCE MIDI ...> block into new TAKE
sections of the item's chunk gives real, independent MIDI takes (the copy's GUID and
POOLEDEVTS lines are dropped, so REAPER makes new ones instead of pooling the copies).
Pure text: tested outside REAPER.

An item chunk looks like:
  <ITEM
  POSITION 2 ...              item properties, then the first take's (NAME, GUID, ...)
  <SOURCE MIDI                the first take's source; blocks nest (<X ...> events)
  ...
  >
  TAKE SEL                    each further take starts with a TAKE line (SEL: the active one)
  NAME "..."
  <SOURCE MIDI
  ...
  >
  >
]]

local chunks = {}

local function lines(chunk)
  local out = {}
  for line in (chunk:gsub("\r\n", "\n") .. "\n"):gmatch("(.-)\n") do
    out[#out + 1] = line:match("^%s*(.-)%s*$")
  end
  while out[#out] == "" do
    out[#out] = nil
  end
  return out
end

local function is_take_line(line)
  return line == "TAKE" or line:match("^TAKE%s") ~= nil
end

--- The <SOURCE ...> block of take `index` (0-based) as a list of lines, or nil.
function chunks.take_source(chunk, index)
  local depth, take, out = 0, 0, nil
  for _, line in ipairs(lines(chunk)) do
    if out then
      out[#out + 1] = line
      if line:sub(1, 1) == "<" then
        depth = depth + 1
      elseif line == ">" then
        depth = depth - 1
        if depth == 1 then
          return out
        end
      end
    elseif line:sub(1, 1) == "<" then
      depth = depth + 1
      if depth == 2 and take == index and line:match("^<SOURCE%s") then
        out = { line }
      end
    elseif line == ">" then
      depth = depth - 1
    elseif depth == 1 and is_take_line(line) then
      take = take + 1
    end
  end
  return nil
end

-- The source lines without the ones that would make the copy share identity (GUID) or
-- events (POOLEDEVTS) with the original; only the source's own lines, not nested blocks'.
local function independent(source)
  local out, depth = {}, 0
  for i, line in ipairs(source) do
    local own = depth == 1 and i > 1
    if not (own and (line:match("^GUID%s") or line:match("^POOLEDEVTS%s"))) then
      out[#out + 1] = line
    end
    if line:sub(1, 1) == "<" then
      depth = depth + 1
    elseif line == ">" then
      depth = depth - 1
    end
  end
  return out
end

--- The chunk with one new take per name appended, each holding a copy of `source` (from
--- take_source); nil and a message when the chunk has no closing line.
function chunks.add_takes(chunk, source, names)
  local out = lines(chunk)
  if out[#out] ~= ">" then
    return nil, "not an item chunk"
  end
  local copy = independent(source)
  table.remove(out)
  for _, name in ipairs(names) do
    out[#out + 1] = "TAKE"
    out[#out + 1] = ('NAME "%s"'):format(name:gsub('"', "'"))
    table.move(copy, 1, #copy, #out + 1, out)
  end
  out[#out + 1] = ">"
  return table.concat(out, "\n") .. "\n"
end

return chunks
