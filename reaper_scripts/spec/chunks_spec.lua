-- Adding takes to an item chunk by copying a take's MIDI source.
package.path = "./?.lua;" .. package.path
local chunks = require("midigen.chunks")

-- An item as REAPER writes it: two takes, the second active, a sysex block inside a source.
local ITEM = [[
<ITEM
POSITION 2
LENGTH 4
IGUID {11111111-0000-0000-0000-000000000000}
NAME "Keys"
GUID {22222222-0000-0000-0000-000000000000}
<SOURCE MIDI
HASDATA 1 960 QN
POOLEDEVTS {33333333-0000-0000-0000-000000000000}
E 0 90 3c 60
E 480 80 3c 00
<X 0 0
8AAAAA==
>
GUID {44444444-0000-0000-0000-000000000000}
>
TAKE SEL
NAME "Keys 2"
<SOURCE MIDI
HASDATA 1 960 QN
E 0 90 40 60
E 960 80 40 00
>
>
]]

describe("chunks", function()
  it("finds each take's source block, nested blocks included", function()
    local first = chunks.take_source(ITEM, 0)
    assert.are.equal("<SOURCE MIDI", first[1])
    assert.are.equal(">", first[#first])
    assert.are.equal(10, #first)
    assert.are.equal("E 0 90 40 60", chunks.take_source(ITEM, 1)[3])
    assert.is_nil(chunks.take_source(ITEM, 2))
  end)

  it("appends takes copying a source, without its GUID and pool, inside the item", function()
    local out = assert(chunks.add_takes(ITEM, chunks.take_source(ITEM, 0), { "midigen 1", "midigen 2" }))
    local copy = chunks.take_source(out, 2)
    assert.are.same({ "<SOURCE MIDI", "HASDATA 1 960 QN", "E 0 90 3c 60", "E 480 80 3c 00", "<X 0 0", "8AAAAA==", ">", ">" }, copy)
    assert.are.same(copy, chunks.take_source(out, 3))
    assert.truthy(out:find('\nTAKE\nNAME "midigen 1"\n<SOURCE MIDI\n', 1, true))
    assert.truthy(out:match(">\n>\n$"))
    assert.are.same(chunks.take_source(ITEM, 0), chunks.take_source(out, 0)) -- the original stays
    local _, guids = out:gsub("\nGUID ", "")
    assert.are.equal(2, guids)
  end)

  it("refuses text that is not an item chunk", function()
    assert.is_nil((chunks.add_takes("<ITEM\nPOSITION 0\n", {}, { "x" })))
  end)
end)
