"use strict";
/* The device against a scripted server (test/fake_server.js) and the fake Live: what it writes,
 * when, in which undo step, and what it leaves alone on errors, cancels and timeouts. */

const test = require("node:test");
const assert = require("node:assert/strict");
const { Device } = require("mg_device");
const { FakeServer } = require("./fake_server");
const { scene, KEYS } = require("./scene");
const { waitFor } = require("./harness");

function setup(opts = {}) {
  const live = scene(opts);
  const server = new FakeServer();
  const statuses = [];
  const env = {
    LiveAPI: live.LiveAPI,
    send: (m) => server.send(m),
    status: (t) => statuses.push(t),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (h) => clearTimeout(h),
    now: () => Date.now(),
    port: 9001,
    clientId: "mgtest0123456789",
    undo: live.major >= 12,
    timeouts: Object.assign({ pong: 100, reply: 300, uploadEnd: 50, stall: 300 }, opts.timeouts),
  };
  const device = new Device(env);
  server.device = device;
  return { live, server, device, statuses };
}

async function settle(device) {
  await waitFor(() => device.job === null, 5000, "the job to end");
}

/** The LOM edits, as "fn start" strings, in order. */
function edits(live) {
  return live.calls
    .filter((c) => ["remove_notes_extended", "add_new_notes", "begin_undo_step", "end_undo_step"].includes(c.fn))
    .map((c) => (c.fn === "remove_notes_extended" ? "remove " + c.args[2] + "+" + c.args[3] : c.fn === "add_new_notes" ? "add " + c.args[0].notes.length : c.fn));
}

test("infill writes each selected bar once (remove over the bar, one add) inside one undo step", async () => {
  const { live, device, statuses } = setup();
  const before = live.notesOf(KEYS);
  device.set("fromBar", 2);
  device.set("toBar", 3);
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in \d+ ms$/);
  assert.deepEqual(edits(live), ["begin_undo_step", "remove 4+4", "add 1", "remove 8+4", "add 1", "end_undo_step"]);
  assert.equal(live.undoSteps, 1);
  const clipId = live.object(KEYS).id;
  assert.ok(live.callsOf("add_new_notes").every((c) => c.path === "id " + clipId), "writes address the clip by id");
  const after = live.notesOf(KEYS);
  const outside = (ns) => ns.filter((n) => n.start_time < 4 || n.start_time >= 12);
  assert.deepEqual(outside(after), outside(before), "bars outside the selection are untouched");
  assert.deepEqual(after.filter((n) => n.start_time >= 4 && n.start_time < 12).map((n) => [n.pitch, n.start_time]), [[61, 4], [61, 8]]);
});

test("the upload carries the clip, the same-scene context and the drum convention", async () => {
  const { server, device } = setup();
  device.generate();
  await settle(device);
  const tracks = server.received.filter((m) => m[0] === "/midigen/upload/track").map((m) => m.slice(3));
  assert.deepEqual(tracks, [[1, 4, 0, "Keys"], [2, 33, 0, "Bass"], [3, 0, 1, "Beat"]]);
  const begin = server.received.find((m) => m[0] === "/midigen/upload/begin");
  assert.deepEqual(begin.slice(2), [1, 3, 4, 100]);
  const end = server.received.find((m) => m[0] === "/midigen/upload/end");
  // Keys 8 notes; the 1-bar bass and drum loops repeat under the 4-bar clip: 8 + 8.
  assert.deepEqual(end.slice(3), [3, 1, 3, 24]);
  const gen = server.received.find((m) => m[0] === "/midigen/generate");
  assert.deepEqual(gen.slice(4, 6), ["infill", 1]);
  assert.deepEqual(gen.slice(11), [1, 1, 4, -1, -1, -1, -1, -1, -1, -1, -1], "default selection: the clip's loop");
});

test("controls, register and variations reach /generate", async () => {
  const { server, device } = setup();
  device.set("density", 7);
  device.set("polyMax", 3);
  device.set("durMin", 2);
  device.set("pitchMin", 48);
  device.set("pitchMax", 72);
  device.set("variations", 3);
  device.set("temperature", 0.8);
  device.set("velocity", 0);
  device.generate();
  await settle(device);
  const gen = server.received.find((m) => m[0] === "/midigen/generate");
  assert.deepEqual(gen.slice(4, 11), ["infill", 3, 0.8, 0.95, -1, 0, 1]);
  assert.deepEqual(gen.slice(11), [1, 1, 4, -1, 7, -1, 3, 2, -1, 48, 72]);
});

test("a job that fails after a bar was written leaves the clip as it was, in one undo step", async () => {
  const { live, server, device, statuses } = setup();
  server.script["*"] = { failAfter: 2, failText: "window too dense" };
  const before = live.notesOf(KEYS);
  device.generate();
  await settle(device);
  assert.equal(statuses.at(-1), "server: window too dense");
  assert.deepEqual(live.notesOf(KEYS), before);
  assert.equal(live.undoSteps, 1);
  assert.equal(live.undoDepth, 0, "the undo step is closed");
});

test("cancel mid-stream restores the clip and tells the server", async () => {
  const { live, server, device, statuses } = setup();
  server.script["*"] = { stopAfter: 2 };
  const before = live.notesOf(KEYS);
  device.generate();
  await waitFor(() => live.callsOf("add_new_notes").length === 2, 5000, "two bars written");
  assert.notDeepEqual(live.notesOf(KEYS), before);
  device.cancel();
  assert.equal(statuses.at(-1), "cancelled");
  assert.deepEqual(live.notesOf(KEYS), before);
  assert.equal(live.undoDepth, 0);
  assert.ok(server.received.some((m) => m[0] === "/midigen/cancel" && m[2] === 1));
});

test("a server that goes silent times out, cancels the job and writes nothing", async () => {
  const { live, server, device, statuses } = setup({ timeouts: { stall: 150 } });
  server.script["*"] = { silent: true };
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^timed out: no word from the server/);
  assert.equal(live.callsOf("add_new_notes").length, 0);
  assert.equal(live.callsOf("remove_notes_extended").length, 0);
  assert.ok(server.received.some((m) => m[0] === "/midigen/cancel"));
});

test("no server: a clear status and no LOM edits", async () => {
  const { live, server, device, statuses } = setup();
  server.running = false;
  device.generate();
  await settle(device);
  assert.equal(statuses.at(-1), "server not running: start `midigen-server --port 9000`");
  assert.deepEqual(edits(live), []);
});

test("a refused generate shows the server's text and writes nothing", async () => {
  const { live, server, device, statuses } = setup();
  server.script["*"] = { refuse: "track 1: bar 9 is outside the piece" };
  device.generate();
  await settle(device);
  assert.equal(statuses.at(-1), "server: track 1: bar 9 is outside the piece");
  assert.deepEqual(edits(live), []);
});

test("a lost /notes datagram is noticed by the bar's count and asked for again", async () => {
  const { live, server, device, statuses } = setup();
  server.script["*"] = { lose: [[1, 3]] };
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in/);
  assert.ok(server.received.some((m) => m[0] === "/midigen/result"));
  const bar3 = live.notesOf(KEYS).filter((n) => n.start_time >= 8 && n.start_time < 12);
  assert.deepEqual(bar3.map((n) => n.pitch), [61]);
  assert.equal(live.callsOf("add_new_notes").length, 4, "each bar written once");
});

test("variations stay in the device; a flip is one undo step rewriting the bars", async () => {
  const { live, device, statuses } = setup();
  device.set("variations", 3);
  device.set("fromBar", 1);
  device.set("toBar", 2);
  device.generate();
  await settle(device);
  assert.equal(statuses.at(-1).replace(/\d+ ms/, "N ms"), "done in N ms: variation 1 of 3");
  const steps = live.undoSteps;
  live.calls.length = 0;
  device.showVariation(3);
  assert.equal(live.undoSteps, steps + 1);
  assert.deepEqual(edits(live), ["begin_undo_step", "remove 0+4", "add 1", "remove 4+4", "add 1", "end_undo_step"]);
  assert.deepEqual(live.notesOf(KEYS).filter((n) => n.start_time < 8).map((n) => n.pitch), [63, 63]);
  device.showVariation(4);
  assert.equal(statuses.at(-1), "variation 4 does not exist (1-3)");
});

test("on Live 11 (no Song.begin_undo_step) the device writes without bracketing", async () => {
  const { live, device, statuses } = setup({ major: 11 });
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in/);
  assert.equal(live.callsOf("begin_undo_step").length, 0);
  assert.equal(live.callsOf("add_new_notes").length, 4);
});

test("continue appends as many bars as selected after it and extends the loop", async () => {
  const { live, server, device } = setup();
  device.set("mode", 1); // the live.tab's index: continue
  device.set("fromBar", 3);
  device.set("toBar", 4);
  device.generate();
  await settle(device);
  const begin = server.received.find((m) => m[0] === "/midigen/upload/begin");
  assert.equal(begin[4], 4, "the piece ends with the selection");
  const gen = server.received.find((m) => m[0] === "/midigen/generate");
  assert.deepEqual(gen.slice(4, 5).concat(gen.slice(11, 14)), ["continue", 1, 5, 6]);
  const clip = live.object(KEYS);
  assert.equal(clip.loop_end, 24);
  assert.deepEqual(live.notesOf(KEYS).filter((n) => n.start_time >= 16).map((n) => n.start_time), [16, 20]);
});

test("selection errors are shown, not thrown", () => {
  const { device, statuses } = setup({ detail: null });
  device.generate();
  assert.equal(statuses.at(-1), "no clip selected: double-click a MIDI clip first");
  const s2 = setup();
  s2.device.set("fromBar", 3);
  s2.device.set("toBar", 2);
  s2.device.generate();
  assert.equal(s2.statuses.at(-1), "bar range 3-2 is empty: the last bar comes before the first");
  assert.throws(() => s2.device.set("mode", "shuffle"), /mode must be infill, continue or loop/);
});

test("loop mode swaps the next variation in as the playhead leaves each bar, completing at the wrap", async () => {
  const { live, server, device, statuses } = setup();
  device.set("mode", "loop");
  device.set("variations", 2);
  device.generate();
  await settle(device);
  const steps = live.undoSteps;
  live.calls.length = 0;
  device.position(1); // in bar 1: nothing has been left yet
  assert.equal(live.callsOf("add_new_notes").length, 0);
  device.position(4.5); // bar 1 left behind
  device.position(9); // bar 2 too
  assert.deepEqual(edits(live), ["begin_undo_step", "remove 0+4", "add 1", "remove 4+4", "add 1"]);
  device.position(0.1); // wrapped at the loop end: bars 3 and 4 follow at once
  assert.deepEqual(edits(live).slice(5), ["remove 8+4", "add 1", "remove 12+4", "add 1", "end_undo_step"]);
  assert.equal(live.undoSteps, steps + 1);
  assert.deepEqual(live.notesOf(KEYS).map((n) => n.pitch), [62, 62, 62, 62], "variation 2 is in");
  // With no variation left, the device asked for more of the loop as it now is.
  await waitFor(() => server.received.filter((m) => m[0] === "/midigen/generate").length === 2, 5000, "a refill");
  await waitFor(() => device.loop && device.loop.queue.length === 2, 5000, "the refill's variations");
  device.cancel();
  assert.equal(device.loop, null);
  assert.equal(statuses.at(-1), "loop stopped");
});

test("protocol 2: a chunk the server reports missing is sent again before /generate", async () => {
  const { server, device, statuses } = setup();
  server.loseChunk = 1;
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in/);
  const sent = server.received.map((m) => (m[0] === "/midigen/upload/notes" ? "notes " + m[3] : m[0].replace("/midigen/", "")));
  const end = sent.indexOf("upload/end");
  assert.deepEqual(sent.slice(end, end + 3), ["upload/end", "notes 1", "upload/end"]);
  assert.ok(sent.indexOf("generate") > end + 2);
});

test("protocol 2: /status heartbeats keep a queued job alive; a job the server forgot ends it", async () => {
  const { live, server, device, statuses } = setup({ timeouts: { stall: 200, heartbeat: 50 } });
  server.script["*"] = { silent: true };
  device.generate();
  await new Promise((r) => setTimeout(r, 600)); // three stall periods
  assert.ok(device.job, "still waiting: every /state re-arms the stall timer");
  assert.ok(server.received.filter((m) => m[0] === "/midigen/status").length >= 5);
  server.state = "unknown";
  await settle(device);
  assert.equal(statuses.at(-1), "the server lost the job (restarted?): press generate again");
  assert.equal(live.callsOf("add_new_notes").length, 0);
});

test("protocol 2: a repeated /uploaded does not send /generate twice", async () => {
  const { server, device, statuses } = setup();
  server.answerEndTwice = true;
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in/);
  assert.equal(server.received.filter((m) => m[0] === "/midigen/generate").length, 1);
});

test("protocol 2: a lost /done is noticed by the heartbeat's state and replayed", async () => {
  const { live, server, device, statuses } = setup({ timeouts: { heartbeat: 30 } });
  server.script["*"] = { loseDone: true };
  device.generate();
  await settle(device);
  assert.match(statuses.at(-1), /^done in/);
  assert.ok(server.received.some((m) => m[0] === "/midigen/result"));
  assert.equal(live.callsOf("add_new_notes").length, 4, "the replayed bars are not written twice");
});

test("the writing rule: a kept note ringing in is cut, a new note ringing out is trimmed, a failure gives both back", async () => {
  const notes = [
    { pitch: 61, start_time: 2, duration: 6, velocity: 80 }, // bar 1, rings to the end of bar 2
    { pitch: 61, start_time: 12.5, duration: 1, velocity: 80 }, // bar 4
  ];
  const run = async (script) => {
    const s = setup({ notes });
    s.server.barNotes = (job, v, bar, start) => [{ pitch: 61, start, duration: bar === 3 ? 6 : 1, velocity: 90 }];
    s.server.script["*"] = script;
    s.device.set("fromBar", 2);
    s.device.set("toBar", 3);
    s.device.generate();
    await settle(s.device);
    return s;
  };
  const ok = await run({});
  assert.deepEqual(ok.live.notesOf(KEYS).map((n) => [n.start_time, n.duration]), [[2, 2], [4, 1], [8, 4.5], [12.5, 1]]);
  assert.equal(ok.live.callsOf("apply_note_modifications").length, 1);
  assert.ok(ok.live.callsOf("apply_note_modifications").every((c) => c.undoDepth === 1), "inside the undo step");
  const failed = await run({ failAfter: 1 });
  assert.deepEqual(failed.live.notesOf(KEYS).map((n) => [n.start_time, n.duration]), [[2, 6], [12.5, 1]]);
});

test("a server speaking another protocol version is named in the status; nothing is sent on", async () => {
  const { live, server, device, statuses } = setup();
  server.protocol = 3;
  device.generate();
  await settle(device);
  assert.equal(statuses.at(-1), "the server speaks protocol 3; this device speaks 2: update one of them");
  assert.deepEqual(server.received.map((m) => m[0]), ["/midigen/ping"]);
  assert.deepEqual(edits(live), []);
});
