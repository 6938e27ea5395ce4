"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const protocol = require("mg_protocol");
const p2 = require("mg_protocol2");

function piece(n) {
  const ns = [];
  for (let i = 0; i < n; i++) ns.push({ pitch: 60, start: i / 4, duration: 0.25, velocity: 90 });
  return {
    bars: 8,
    tempo: 120,
    meters: [{ bar: 1, numerator: 4, denominator: 4 }, { bar: 5, numerator: 3, denominator: 4 }],
    tracks: [{ program: 33, drum: false, name: "Bass", notes: ns }, { program: 0, drum: true, name: "Drums", notes: [] }],
  };
}

test("the dialect follows the pong's protocol", () => {
  assert.equal(protocol.dialect(1), null, "protocol 1 is gone from the server");
  assert.equal(protocol.dialect(2), p2);
  assert.equal(protocol.dialect(3), null);
  assert.deepEqual(protocol.ping(9001), ["/midigen/ping", 9001]);
  assert.deepEqual(protocol.parseReply(null, "/midigen/pong", [2, "0.1.0", "m", "cpu", 8, 8, 0, ""]).protocol, 2);
  assert.equal(protocol.parseReply(p2, "/midigen/bar", [1, 2]).kind, "malformed");
  assert.equal(protocol.parseReply(p2, "/midigen/playing", [1, 1]).kind, "ignored");
});

test("protocol 2 upload: token, numbered chunks of <= 60 in ticks, the counts at the end", () => {
  const up = p2.upload({ port: 9001, token: 77 }, 5, piece(130));
  assert.deepEqual(up.messages[0], ["/midigen/upload/begin", 77, 5, 2, 8, 120]);
  const chunks = up.messages.filter((m) => m[0] === "/midigen/upload/notes");
  assert.deepEqual(chunks.map((m) => m[3]), [1, 2, 3]);
  assert.deepEqual(chunks.map((m) => (m.length - 5) / 4), [60, 60, 10]);
  assert.deepEqual(chunks[0].slice(4, 9), [1, 60, 0, 24, 90], "track 1, pitch 60 at tick 0 for 24 ticks");
  assert.deepEqual(chunks[0].slice(9, 13), [60, 24, 24, 90]);
  assert.deepEqual(up.end, ["/midigen/upload/end", 77, 5, 2, 2, 3, 130]);
  const again = p2.resend(up, { tracks: 0, meters: 1, chunks: [3] });
  assert.deepEqual(again.map((m) => m[0]), ["/midigen/upload/meter", "/midigen/upload/meter", "/midigen/upload/notes", "/midigen/upload/end"]);
  assert.equal(again[2][3], 3);
});

test("ticks round half up and a duration never rounds to 0", () => {
  assert.equal(p2.ticks(1 / 192), 1);
  assert.equal(p2.ticks(1 / 200), 0);
  assert.equal(p2.ticks(2.5), 240);
  const up = p2.upload({ token: 1 }, 1, { bars: 1, tempo: 90, meters: [], tracks: [{ program: 0, name: "x", notes: [{ pitch: 60, start: 0, duration: 0.001, velocity: 1 }] }] });
  assert.deepEqual(up.chunks[1].slice(5), [60, 0, 1, 1]);
});

test("protocol 2 generate: token, job, piece, controls with register", () => {
  const request = {
    mode: "infill", variations: 2, temperature: 1, topP: 0.95, seed: -1, velocity: 1, microtiming: 1,
    selections: [{ track: 1, firstBar: 2, lastBar: 3, program: -1, density: 6, polyMin: -1, polyMax: 3, durMin: -1, durMax: -1, pitchMin: 48, pitchMax: 72 }],
  };
  assert.deepEqual(p2.generate({ token: 9 }, 4, request), ["/midigen/generate", 9, 4, 4, "infill", 2, 1, 0.95, -1, 1, 1, 1, 2, 3, -1, 6, -1, 3, -1, -1, 48, 72]);
  assert.deepEqual(p2.result({ token: 9 }, 4), ["/midigen/result", 9, 4, 0, 0, 0, 0]);
  assert.deepEqual(p2.hello({ port: 9001, clientId: "mgabc12345" }), ["/midigen/hello", 2, 9001, "mgabc12345"]);
  assert.match(p2.newClientId(Math.random), /^mg[0-9a-f]{16}$/);
});

test("protocol 2 replies: ticks to quarters, /failed and /refused as errors", () => {
  assert.deepEqual(p2.parse("/midigen/notes", [3, 1, 1, 2, 60, 432, 48, 90]).notes, [{ pitch: 60, start: 4.5, duration: 0.5, velocity: 90 }]);
  const bar = p2.parse("/midigen/bar", [3, 1, 1, 2, 1, 384, 768]);
  assert.deepEqual([bar.start, bar.end, bar.count], [4, 8, 1]);
  assert.deepEqual(p2.parse("/midigen/failed", [3, "internal", "boom"]), { kind: "error", job: 3, code: "internal", message: "boom" });
  const refused = p2.parse("/midigen/refused", ["/midigen/generate", "queue_full", 3, "queue is full"]);
  assert.deepEqual([refused.kind, refused.job, refused.code, refused.message], ["error", 3, "queue_full", "queue is full"]);
  assert.deepEqual(p2.parse("/midigen/upload/missing", [5, 0, 1, 7, 9]), { kind: "missing", job: 5, tracks: 0, meters: 1, chunks: [7, 9] });
});
