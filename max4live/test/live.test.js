"use strict";
/* LOM reading and writing against the fake Live; what goes into the piece. */
const test = require("node:test");
const assert = require("node:assert/strict");
const live = require("mg_live");
const piece = require("mg_piece");
const { FakeLive } = require("./fake_live");
const { scene, KEYS } = require("./scene");

test("get_notes_extended is called pitch range first, then time range", () => {
  const world = scene();
  live.readSelection(world.LiveAPI);
  const call = world.callsOf("get_notes_extended", KEYS)[0];
  assert.deepEqual(call.args, [0, 128, 0, 16]);
});

test("session view: the detail clip, its track, and the other MIDI tracks' clips in its scene", () => {
  const sel = live.readSelection(scene().LiveAPI);
  assert.equal(sel.tempo, 100);
  assert.equal(sel.target.track.name, "Keys");
  assert.equal(sel.target.notes.length, 8);
  assert.deepEqual(sel.context.map((c) => c.track.name), ["Bass", "Beat"], "the audio track is not context");
  assert.deepEqual(sel.context[1].track.devices, ["DrumGroupDevice"]);
});

test("arrangement view: the clips of other tracks that overlap the detail clip, placed by song time", () => {
  const world = new FakeLive({
    tracks: [
      { name: "Lead", arrangement: [{ start_time: 8, loop_end: 8, looping: 0, notes: [{ pitch: 72, start_time: 0, duration: 1 }] }] },
      {
        name: "Bass",
        arrangement: [
          { start_time: 0, loop_end: 4, end_time: 4, looping: 0, notes: [{ pitch: 30, start_time: 0, duration: 1 }] }, // ends before
          { start_time: 6, loop_end: 8, end_time: 14, looping: 0, notes: [{ pitch: 36, start_time: 0, duration: 1 }, { pitch: 40, start_time: 4, duration: 1 }] },
        ],
      },
    ],
    detail: "live_set tracks 0 arrangement_clips 0",
  });
  const sel = live.readSelection(world.LiveAPI);
  assert.equal(sel.target.clip.arrangement, true);
  assert.equal(sel.context.length, 1, "the clip that ends before the detail clip starts is left out");
  const p = piece.buildPiece(sel, piece.clipMeters(sel), 2);
  // Bass notes at song time 6 and 10 are detail-clip time -2 (before the piece: dropped) and 2.
  assert.deepEqual(p.tracks[1].notes.map((n) => [n.pitch, n.start]), [[40, 2]]);
  assert.equal(p.tracks[1].program, 33);
});

test("no selected clip, or an audio clip, is a status message", () => {
  assert.throws(() => live.readSelection(scene({ detail: null }).LiveAPI), /no clip selected/);
  const world = new FakeLive({ tracks: [{ name: "A", slots: [{ audio: true, loop_end: 4 }] }], detail: "live_set tracks 0 clip_slots 0 clip" });
  assert.throws(() => live.readSelection(world.LiveAPI), /audio clip/);
});

test("a looped clip plays its first pass from the start marker, then its loop again and again", () => {
  const clip = { looping: true, loopStart: 4, loopEnd: 8, startMarker: 2, endMarker: 8, startTime: 0, endTime: Infinity };
  const ns = [{ pitch: 1, start_time: 2.5, duration: 1 }, { pitch: 2, start_time: 5, duration: 10 }];
  const played = piece.playedNotes(clip, ns, 16).map((n) => [n.pitch, n.start_time, n.duration]);
  assert.deepEqual(played, [[1, 0.5, 1], [2, 3, 3], [2, 7, 3], [2, 11, 3], [2, 15, 1]]);
});

test("the default bars are the clip's loop; the instrument convention reads names and drum racks", () => {
  const meters = [{ bar: 1, numerator: 4, denominator: 4 }];
  assert.deepEqual(piece.selectedBars(meters, { looping: true, loopStart: 4, loopEnd: 12 }, 0, 0), { first: 2, last: 3 });
  assert.deepEqual(piece.selectedBars(meters, { looping: true, loopStart: 4, loopEnd: 12 }, 1, 0), { first: 1, last: 3 });
  assert.deepEqual(piece.instrumentOf({ name: "808", devices: ["DrumGroupDevice"] }), { program: 0, drum: true });
  assert.deepEqual(piece.instrumentOf({ name: "Perc loop", devices: [] }), { program: 0, drum: true });
  assert.deepEqual(piece.instrumentOf({ name: "Sub Bass", devices: ["Operator"] }), { program: 33, drum: false });
  assert.deepEqual(piece.instrumentOf({ name: "1-MIDI", devices: [] }), { program: 0, drum: false });
  assert.deepEqual(piece.instrumentOf({ name: "Solo [p29]", devices: [] }), { program: 29, drum: false });
  assert.deepEqual(piece.instrumentOf({ name: "Bass [p38]", devices: [] }), { program: 38, drum: false }, "the tag wins");
});

test("ClipWriter removes the bar's span and adds its notes in one call; restores drop note ids", () => {
  const world = scene();
  const writer = new live.ClipWriter(world.LiveAPI, KEYS);
  writer.writeBar(4, 8, [{ pitch: 70, start_time: 5, duration: 1, velocity: 99, note_id: 12, mute: 0 }]);
  writer.writeBar(8, 12, []);
  assert.deepEqual(world.calls.map((c) => [c.fn, c.args.length]), [["remove_notes_extended", 4], ["add_new_notes", 1], ["remove_notes_extended", 4]]);
  const notes = world.notesOf(KEYS);
  assert.deepEqual(notes.filter((n) => n.start_time >= 4 && n.start_time < 12), [{ pitch: 70, start_time: 5, duration: 1, velocity: 99 }]);
});

test("an undo step opens once and closes once; without Live 12 it calls nothing", () => {
  const world = scene();
  const step = new live.UndoStep(world.LiveAPI, true);
  step.begin();
  step.begin();
  step.end();
  step.end();
  assert.deepEqual(world.calls.map((c) => c.fn), ["begin_undo_step", "end_undo_step"]);
  const old = scene({ major: 11 });
  const none = new live.UndoStep(old.LiveAPI, false);
  none.begin();
  none.end();
  assert.deepEqual(old.calls, []);
  assert.equal(live.liveMajorVersion(old.LiveAPI), 11);
});

test("muted tracks and deactivated clips are not context", () => {
  const world = new FakeLive({
    tracks: [
      { name: "Keys", slots: [{ loop_end: 4 }] },
      { name: "Bass", mute: true, slots: [{ loop_end: 4, notes: [{ pitch: 36, start_time: 0, duration: 1 }] }] },
      { name: "Pad", slots: [{ loop_end: 4, muted: true, notes: [{ pitch: 60, start_time: 0, duration: 4 }] }] },
      { name: "Lead", slots: [{ loop_end: 4, notes: [{ pitch: 72, start_time: 0, duration: 1 }] }] },
    ],
    detail: "live_set tracks 0 clip_slots 0 clip",
  });
  assert.deepEqual(live.readSelection(world.LiveAPI).context.map((c) => c.track.name), ["Lead"]);
});
