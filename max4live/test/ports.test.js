"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const ports = require("mg_ports");

test("two devices in one set get different reply ports; a deleted one frees its port", () => {
  const registry = {}; // Max's Global, shared by every [js] of the set
  const a = ports.claim(registry, "device-1");
  const b = ports.claim(registry, "device-2");
  assert.equal(a, ports.FIRST);
  assert.equal(b, ports.FIRST + 1);
  assert.equal(ports.claim(registry, "device-1"), a, "claiming again keeps the port");
  ports.release(registry, "device-1");
  assert.equal(ports.claim(registry, "device-3"), a);
});

test("when every port is taken the error says so", () => {
  const registry = {};
  for (let i = 0; i < ports.COUNT; i++) ports.claim(registry, "d" + i);
  assert.throws(() => ports.claim(registry, "one too many"), /all reply ports 9001-9064 are taken/);
});
