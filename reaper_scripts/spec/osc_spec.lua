-- The OSC codec: hand-checked bytes, round trips, and refusal of bad input without raising.
-- Byte equality with python-osc and liblo is checked by tests/test_reaper_osc.py.
package.path = "./?.lua;" .. package.path
local osc = require("midigen.osc")

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

describe("osc.encode", function()
  it("pads the address and tags to 4 bytes and packs big-endian", function()
    -- "/midigen/ping" (13 bytes) + 3 NULs, ",i" + 2 NULs, 9001
    assert.are.equal(
      "2f6d69646967656e2f70696e67000000" .. "2c690000" .. "00002329",
      hex(osc.encode("/midigen/ping", "i", 9001))
    )
    -- "/a" + 2 NULs, ",ifs" + 4 NULs, 1, 0.5f, "hi" + 2 NULs
    assert.are.equal(
      "2f610000" .. "2c696673" .. "00000000" .. "00000001" .. "3f000000" .. "68690000",
      hex(osc.encode("/a", "ifs", 1, 0.5, "hi"))
    )
  end)

  it("always terminates strings, adding 4 NULs when already aligned", function()
    assert.are.equal("2f616263" .. "00000000" .. "2c000000", hex(osc.encode("/abc", "")))
  end)

  it("encodes negative ints, blobs, and the argument-less tags", function()
    assert.are.equal("ffffffff", hex(osc.encode("/a", "i", -1)):sub(-8))
    assert.are.equal("00000003" .. "78797a00", hex(osc.encode("/a", "b", "xyz")):sub(-16))
    assert.are.equal("2f610000" .. "2c54464e" .. "00000000", hex(osc.encode("/a", "TFN", true, false, nil)))
  end)

  it("refuses what the wire cannot carry, naming the argument", function()
    assert.has_error(function() osc.encode("/a", "i", 2 ^ 31) end, "osc: argument 1 (i) = 2147483648 is outside int32")
    assert.has_error(function() osc.encode("/a", "i", 0.5) end, "osc: argument 1 (i) must be an integer, got 0.5")
    assert.has_error(function() osc.encode("/a", "ii", 1) end, "osc: /a: 2 type tags but 1 arguments")
    assert.has_error(function() osc.encode("a", "") end)
    assert.has_error(function() osc.encode("/a", "x", 1) end, "osc: /a: unknown type tag 'x'")
    assert.has_error(function() osc.encode("/a", "s", "a\0b") end)
  end)
end)

describe("osc.decode", function()
  it("round-trips every supported tag", function()
    local data = osc.encode("/midigen/notes", "iisfdhbTF", 7, -3, "Bass", 0.25, 1 / 3, 1 << 40, "\1\2", true, false)
    local out = assert(osc.decode(data))
    assert.are.equal(1, #out)
    local m = out[1]
    assert.are.equal("/midigen/notes", m.address)
    assert.are.equal("iisfdhbTF", m.types)
    assert.are.same({ 7, -3, "Bass", 0.25, 1 / 3, 1 << 40, "\1\2", true, false }, m.args)
  end)

  it("keeps float32 precision, not more", function()
    local m = assert(osc.decode(osc.encode("/f", "f", 0.1)))[1]
    assert.are_not.equal(0.1, m.args[1])
    assert.is_true(math.abs(m.args[1] - 0.1) < 1e-7)
  end)

  it("flattens bundles, nested ones included, in order", function()
    local a, b = osc.encode("/a", "i", 1), osc.encode("/b", "s", "x")
    local out = assert(osc.decode(osc.bundle({ a, osc.bundle({ b }) })))
    assert.are.same({ "/a", "/b" }, { out[1].address, out[2].address })
  end)

  it("returns nil and a reason for bad datagrams instead of raising", function()
    local good = osc.encode("/a", "is", 1, "hello")
    for _, bad in ipairs({ "", "abc", "abcd", good:sub(1, 12), "#bundle\0", "/a\0\0,q\0\0" }) do
      local out, err = osc.decode(bad)
      assert.is_nil(out)
      assert.is_string(err)
      assert.truthy(err:find("^osc: "))
    end
  end)
end)

describe("osc.truncate", function()
  it("cuts at characters, not bytes, and drops bytes of invalid UTF-8", function()
    assert.are.equal("Kl\u{e4}", osc.truncate("Kl\u{e4}nge", 3))
    assert.are.equal("short", osc.truncate("short", 64))
    assert.are.equal("Bad", osc.truncate("B\255a\254d", 64))
  end)
end)
