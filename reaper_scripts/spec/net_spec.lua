-- net.bind_address: where the reply socket listens, from the server host in Settings.
package.path = "./?.lua;" .. package.path
local net = require("midigen.net")

describe("net.bind_address", function()
  it("keeps the reply port on loopback for a server on this machine", function()
    for _, host in ipairs({ "127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "" }) do
      assert.are.equal("127.0.0.1", net.bind_address(host), host)
    end
    assert.are.equal("127.0.0.1", net.bind_address(nil))
  end)

  it("listens on every interface for a server elsewhere, whose replies come from that host", function()
    for _, host in ipairs({ "192.168.1.20", "10.0.0.5", "studio-pc", "127.0.0.1.example" }) do
      assert.are.equal("0.0.0.0", net.bind_address(host), host)
    end
  end)
end)
