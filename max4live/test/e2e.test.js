"use strict";
/*
 * End to end: the device logic with a fake Live, real UDP on loopback through the
 * [udpsend]/[udpreceive] stand-in, and the real midigen-server (started on a free port with
 * its default model, stopped by pid). The device has to write exactly what the server sent,
 * per bar, in one undo step, and nothing when the job does not finish.
 */

const test = require("node:test");
const assert = require("node:assert/strict");
const { Device } = require("mg_device");
const { UdpBridge, startServer, deadPort, nodeEnv, waitFor } = require("./harness");
const { scene, KEYS } = require("./scene");
const { FakeLive } = require("./fake_live");
const { readSmf } = require("./smf");
const path = require("path");

let server;
const bridges = []; // every test's, closed after it even when an assertion failed first

test.before(async () => {
  server = await startServer();
});

test.afterEach(async () => {
  for (const bridge of bridges.splice(0)) await bridge.close();
});

test.after(async () => {
  if (server) await server.stop();
});

async function setup(opts = {}) {
  const live = scene(opts);
  const bridge = await UdpBridge.open(opts.port || server.port);
  bridges.push(bridge);
  const env = nodeEnv(live, bridge, { timeouts: Object.assign({ pong: 1500, reply: 5000, uploadEnd: 1000, stall: 30000 }, opts.timeouts) });
  const device = new Device(env);
  bridge.target = device;
  return { live, bridge, env, device, statuses: env.statuses };
}

async function settle(device, ms = 60000) {
  await waitFor(() => device.job === null, ms, "the job to end");
}

/** The server's bars of one variation, from the replies the harness decoded, in quarters. */
function sentBars(bridge, variation) {
  const ticks = 96; // protocol 2 times are ticks
  const bars = {};
  for (const m of bridge.received) {
    if (m.address === "/midigen/notes" && m.args[1] === variation) {
      const b = (bars[m.args[3]] = bars[m.args[3]] || []);
      for (let i = 4; i < m.args.length; i += 4) b.push({ pitch: m.args[i], start_time: m.args[i + 1] / ticks, duration: m.args[i + 2] / ticks, velocity: m.args[i + 3] });
    }
    if (m.address === "/midigen/bar" && m.args[1] === variation) bars[m.args[3]] = bars[m.args[3]] || [];
  }
  return bars;
}

const sortNotes = (ns) => ns.slice().sort((a, b) => a.start_time - b.start_time || a.pitch - b.pitch);
const close = (a, b) => Math.abs(a - b) < 1e-3;

test("the device finds the server on load", async () => {
  const { device, statuses, bridge } = await setup();
  device.ping();
  await waitFor(() => /^connected/.test(statuses.at(-1) || ""), 5000, "connected");
  assert.match(statuses.at(-1), /^connected: \S+ on cpu \(protocol 2\)$/);
  await bridge.close();
});

test("infill: the server's bars land in the selected bars, one remove + one add each, one undo step", async () => {
  const { live, device, statuses, bridge } = await setup();
  const before = live.notesOf(KEYS);
  device.set("fromBar", 2);
  device.set("toBar", 3);
  device.set("seed", 7);
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in \d+ ms$/);
  assert.equal(live.undoSteps, 1);
  assert.equal(live.undoDepth, 0);
  const removes = live.callsOf("remove_notes_extended").map((c) => c.args);
  assert.deepEqual(removes, [[0, 128, 4, 4], [0, 128, 8, 4]]);
  const adds = live.callsOf("add_new_notes");
  const sent = sentBars(bridge, 1);
  assert.deepEqual(Object.keys(sent).map(Number).sort(), [2, 3]);
  const nonEmpty = [2, 3].filter((b) => sent[b].length > 0).length;
  assert.ok(nonEmpty > 0, "the server sent no notes at all");
  assert.equal(adds.length, nonEmpty, "one add per bar that has notes");
  assert.ok(adds.every((c) => c.undoDepth === 1), "every add inside the one undo step");
  const written = live.notesOf(KEYS).filter((n) => n.start_time >= 4 && n.start_time < 12);
  const expected = sortNotes([].concat(sent[2], sent[3]));
  assert.equal(written.length, expected.length);
  written.forEach((n, i) => {
    const e = expected[i];
    assert.ok(n.pitch === e.pitch && close(n.start_time, e.start_time) && close(n.duration, e.duration) && n.velocity === e.velocity, JSON.stringify([n, e]));
  });
  const outside = (ns) => ns.filter((n) => n.start_time < 4 || n.start_time >= 12);
  assert.deepEqual(outside(live.notesOf(KEYS)), outside(before));
  await bridge.close();
});

test("continue writes the new bars after the selection and extends the clip", async () => {
  const { live, device, statuses, bridge } = await setup();
  device.set("mode", "continue");
  device.set("fromBar", 3);
  device.set("toBar", 4);
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in/);
  assert.equal(live.object(KEYS).loop_end, 24);
  assert.deepEqual(live.callsOf("remove_notes_extended").map((c) => c.args[2]), [16, 20]);
  assert.deepEqual(Object.keys(sentBars(bridge, 1)).map(Number).sort(), [5, 6]);
  await bridge.close();
});

test("cancel while bars stream in: the clip ends as it was", async () => {
  const { live, device, statuses, bridge } = await setup({ loopEnd: 64 });
  const before = live.notesOf(KEYS);
  device.set("variations", 8);
  device.generate();
  await waitFor(() => live.callsOf("remove_notes_extended").length >= 1, 60000, "a first bar");
  device.cancel();
  assert.equal(statuses.at(-1), "cancelled");
  assert.deepEqual(live.notesOf(KEYS), before);
  assert.equal(live.undoDepth, 0);
  assert.ok(bridge.sent.some((m) => m[0] === "/midigen/cancel"));
  await bridge.close();
});

test("a request the server refuses: its text in the status, nothing written", async () => {
  const { live, device, statuses, bridge } = await setup();
  device.set("temperature", 50); // the protocol allows 0..10
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^server: .*temperature/);
  assert.equal(live.callsOf("remove_notes_extended").length, 0);
  assert.equal(live.callsOf("add_new_notes").length, 0);
  await bridge.close();
});

test("replies lost after the first bar: timeout, the job cancelled, the written bar restored", async () => {
  // The stall timeout is long enough for a busy machine to produce the first bar.
  const { live, device, statuses, bridge } = await setup({ timeouts: { stall: 3000 }, loopEnd: 32 });
  const before = live.notesOf(KEYS);
  let bars = 0;
  bridge.drop = (address) => {
    if (bars >= 1) return true;
    if (address === "/midigen/bar") bars += 1;
    return false;
  };
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^timed out: no word from the server/);
  assert.equal(live.callsOf("remove_notes_extended").length, 2, "one bar written, then restored");
  assert.deepEqual(live.notesOf(KEYS), before);
  assert.equal(live.undoDepth, 0);
  assert.ok(bridge.sent.some((m) => m[0] === "/midigen/cancel"));
  await bridge.close();
});

test("no server on the port: a status that says how to start it", async () => {
  const { live, device, statuses, bridge } = await setup({ port: await deadPort(), timeouts: { pong: 300 } });
  device.generate();
  await settle(device, 5000);
  assert.equal(statuses.at(-1), "server not running: start `midigen-server --port 9000`");
  assert.deepEqual(live.calls.filter((c) => c.fn !== "get_notes_extended"), []);
  await bridge.close();
});

test("loop mode: the next variation is swapped in over a loop cycle, then more are asked for", async () => {
  const { live, device, bridge } = await setup();
  device.set("mode", "loop");
  device.set("variations", 2);
  device.generate();
  await settle(device);
  const steps = live.undoSteps;
  const second = sentBars(bridge, 2);
  for (const pos of [1, 5, 9, 13, 0.5]) device.position(pos);
  assert.equal(live.undoSteps, steps + 1, "the swap is one undo step");
  const expected = sortNotes([].concat(...[1, 2, 3, 4].map((b) => second[b])));
  assert.deepEqual(live.notesOf(KEYS).map((n) => n.pitch), expected.map((n) => n.pitch));
  await waitFor(() => bridge.sent.filter((m) => m[0] === "/midigen/generate").length === 2, 10000, "a refill");
  await waitFor(() => device.job === null, 60000, "the refill to finish");
  assert.equal(device.loop.queue.length, 2);
  device.cancel();
  await bridge.close();
});

test("a dense 16-bar clip and its context go up in many chunks (paced) and come back", async () => {
  const dense = [];
  for (let i = 0; i < 16 * 16; i++) dense.push({ pitch: 60 + ((i * 7) % 24), start_time: i / 4, duration: 0.25, velocity: 70 + (i % 40) });
  const { live, device, statuses, bridge } = await setup({ loopEnd: 64, notes: dense });
  device.set("fromBar", 9);
  device.set("toBar", 9);
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in/);
  const uploadNotes = bridge.sent.filter((m) => m[0] === "/midigen/upload/notes");
  assert.ok(uploadNotes.length >= 5, "several chunks");
  const uploaded = bridge.received.find((m) => m.address === "/midigen/uploaded");
  // 256 keys notes + the 1-bar bass (2) and drum (2) loops repeated over 16 bars.
  assert.equal(uploaded.args[1], 256 + 16 * 2 + 16 * 2);
  assert.deepEqual(live.callsOf("remove_notes_extended").map((c) => c.args.slice(2)), [[32, 4]]);
  await bridge.close();
});

test("a real song (../shared/midi/prompt_bmw.mid): bass infilled with the solo and a Drum Rack as context", async () => {
  const song = readSmf(path.join(__dirname, "..", "..", "..", "shared", "midi", "prompt_bmw.mid"));
  const live = new FakeLive({
    tempo: song.tempo,
    tracks: song.tracks.map((t) => ({ name: t.name, devices: t.drum ? ["DrumGroupDevice"] : ["Operator"], slots: [{ loop_end: 32, notes: t.notes }] })),
    detail: "live_set tracks 0 clip_slots 0 clip",
  });
  const bridge = await UdpBridge.open(server.port);
  bridges.push(bridge);
  const env = nodeEnv(live, bridge);
  const device = new Device(env);
  bridge.target = device;
  const before = live.notesOf(KEYS);
  device.set("fromBar", 3);
  device.set("toBar", 4);
  device.set("seed", 11);
  device.generate();
  await settle(device);
  assert.match(env.statuses.at(-1), /^done in \d+ ms$/);
  const tracks = bridge.sent.filter((m) => m[0] === "/midigen/upload/track").map((m) => m.slice(3));
  assert.deepEqual(tracks, [[1, 33, 0, "electric_bass_finger"], [2, 0, 0, "Solo"], [3, 0, 1, "Drums"]]);
  assert.equal(bridge.received.find((m) => m.address === "/midigen/uploaded").args[1], 409);
  const sent = sentBars(bridge, 1);
  const written = live.notesOf(KEYS).filter((n) => n.start_time >= 8 && n.start_time < 16);
  assert.deepEqual(written.map((n) => [n.pitch, n.start_time]), sortNotes([].concat(sent[3], sent[4])).map((n) => [n.pitch, n.start_time]));
  const onsets = (ns) => ns.filter((n) => n.start_time < 8 || n.start_time >= 16).map((n) => [n.pitch, n.start_time]);
  assert.deepEqual(onsets(live.notesOf(KEYS)), onsets(before), "every note outside bars 3-4 is still there");
  assert.equal(live.undoSteps, 1);
  await bridge.close();
});
