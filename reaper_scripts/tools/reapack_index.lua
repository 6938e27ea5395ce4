--[[
Writes reaper_scripts/index.xml, the ReaPack index users add as a repository, from the files
themselves: every .lua script at the top of reaper_scripts/ with a "@version" header is an
action, every file in midigen/ is a library file they need. The package's description is the
"@about" header of the one script that has it (its first "# " line names the package). All actions must carry the same @version.

  lua5.4 tools/reapack_index.lua            write index.xml
  lua5.4 tools/reapack_index.lua --check    exit 1 if index.xml is not what it would write

Run from reaper_scripts/. Needs LuaFileSystem (Debian lua-filesystem, a dependency of
lua-busted) to list the folder. Source URLs are BASE plus the file's path; change BASE (or
pass --base URL) when the repository moves.
]]

local lfs = require("lfs")

local BASE = "https://github.com/midigen-dev/midigen/raw/main/reaper_scripts/"
local INDEX = "index.xml"
local CATEGORY = "MIDI"

local function fail(text)
  io.stderr:write("reapack_index: " .. text .. "\n")
  os.exit(2)
end

--- The metadata header of a script: { tag = value } (multi-line values joined with "\n").
local function header(path)
  local tags, current = {}, nil
  for line in io.lines(path) do
    local tag, value = line:match("^%-%-%s*@(%w+)%s*(.-)%s*$")
    if tag then
      current = tag:lower()
      tags[current] = value
    elseif current and line:match("^%-%-%s%s+%S") then
      local text = line:match("^%-%-%s%s+(.-)%s*$")
      tags[current] = tags[current] == "" and text or (tags[current] .. "\n" .. text)
    else
      break
    end
  end
  return tags
end

local function sorted_files(dir, pattern)
  local out = {}
  for name in lfs.dir(dir) do
    local path = dir == "." and name or (dir .. "/" .. name)
    if name:match(pattern) and lfs.attributes(path, "mode") == "file" then
      out[#out + 1] = name
    end
  end
  table.sort(out)
  return out
end

local function url(base, path)
  return base .. path:gsub("[^%w%-%._~/]", function(c) return ("%%%02X"):format(c:byte()) end)
end

local function xml(text)
  return (text:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- The @about text (a small markdown: "# " lines are headings) as the RTF ReaPack shows.
local function rtf(about)
  local parts = { "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 \\fswiss Helvetica;}}\n" }
  local paragraph = {}
  local function flush()
    if #paragraph > 0 then
      parts[#parts + 1] = "{\\pard \\ql \\f0 \\sa180 " .. table.concat(paragraph, " ") .. "\\par}\n"
      paragraph = {}
    end
  end
  for line in (about .. "\n"):gmatch("(.-)\n") do
    local escaped = line:gsub("[\\{}]", "\\%0"):gsub("[\128-\255]", "?")
    local heading = escaped:match("^#+%s*(.*)$")
    if heading then
      flush()
      parts[#parts + 1] = "{\\pard \\ql \\f0 \\sa180 \\b \\fs36 " .. heading .. "\\par}\n"
    elseif escaped:match("^%s*$") then
      flush()
    else
      paragraph[#paragraph + 1] = escaped
    end
  end
  flush()
  parts[#parts + 1] = "}\n"
  return table.concat(parts)
end

local function build(base)
  local mains, version, about, description = {}, nil, nil, nil
  for _, name in ipairs(sorted_files(".", "%.lua$")) do
    local tags = header(name)
    if tags.version then
      if version and tags.version ~= version then
        fail(("%s is @version %s but the others are %s: release them together"):format(name, tags.version, version))
      end
      version = tags.version
      if not tags.description or tags.description == "" then
        fail(name .. " has no @description")
      end
      if tags.about then
        if about then
          fail("@about is in more than one script; keep it in one")
        end
        about = tags.about
        description = about:match("^#+%s*([^\n]+)") or tags.description
      end
      mains[#mains + 1] = { name = name, author = tags.author or "" }
    end
  end
  if #mains == 0 then
    fail("no script with a @version header here: run from reaper_scripts/")
  end
  if not about then
    fail("no script has an @about header (the package's description)")
  end
  local lines = {
    '<?xml version="1.0" encoding="utf-8"?>',
    '<index version="1" name="midigen">',
    ('  <category name="%s">'):format(CATEGORY),
    ('    <reapack name="midigen.lua" type="script" desc="%s">'):format(xml(description)),
    "      <metadata>",
    "        <description><![CDATA[" .. rtf(about) .. "]]></description>",
    "      </metadata>",
    ('      <version name="%s" author="%s">'):format(xml(version), xml(mains[1].author)),
  }
  for _, m in ipairs(mains) do
    lines[#lines + 1] = ('        <source main="main" file="%s">%s</source>'):format(xml(m.name), xml(url(base, m.name)))
  end
  for _, name in ipairs(sorted_files("midigen", "%.lua$")) do
    local path = "midigen/" .. name
    lines[#lines + 1] = ('        <source file="%s">%s</source>'):format(xml(path), xml(url(base, path)))
  end
  table.move({ "      </version>", "    </reapack>", "  </category>", "</index>", "" }, 1, 5, #lines + 1, lines)
  return table.concat(lines, "\n")
end

local check, base = false, BASE
local i = 1
while arg[i] do
  if arg[i] == "--check" then
    check = true
  elseif arg[i] == "--base" and arg[i + 1] then
    base, i = arg[i + 1], i + 1
  else
    fail("usage: lua5.4 tools/reapack_index.lua [--check] [--base URL]")
  end
  i = i + 1
end

local text = build(base)
if check then
  local f = io.open(INDEX, "rb")
  local current = f and f:read("a")
  if f then
    f:close()
  end
  if current ~= text then
    io.stderr:write("reapack_index: index.xml is out of date: run lua5.4 tools/reapack_index.lua\n")
    os.exit(1)
  end
  print("index.xml is up to date")
else
  local f = assert(io.open(INDEX, "wb"))
  f:write(text)
  f:close()
  print("wrote index.xml")
end
