"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const notes = require("mg_notes");

test("Live notes become wire notes relative to the origin; muted and out-of-range ones stay home", () => {
  const live = [
    { pitch: 60, start_time: 4.5, duration: 1, velocity: 100.4, mute: 0, note_id: 3 },
    { pitch: 62, start_time: 2, duration: 1, velocity: 90, mute: 1 },
    { pitch: 64, start_time: 1, duration: 0.5, velocity: 0 },
    { pitch: 65, start_time: 7, duration: 4, velocity: 200 },
    { pitch: 67, start_time: 9, duration: 1, velocity: 80 },
  ];
  assert.deepEqual(notes.fromLive(live, 2, 6), [
    { pitch: 60, start: 2.5, duration: 1, velocity: 100 },
    { pitch: 65, start: 5, duration: 1, velocity: 127 },
  ]);
});

test("wire notes become add_new_notes dictionaries in clip time", () => {
  assert.deepEqual(notes.toLive([{ pitch: 60, start: 1.5, duration: 0.25, velocity: 77 }], 8), [
    { pitch: 60, start_time: 9.5, duration: 0.25, velocity: 77, mute: 0 },
  ]);
});

test("notes flatten to OSC arguments in fours and back", () => {
  const wire = [
    { pitch: 36, start: 0, duration: 0.5, velocity: 100 },
    { pitch: 38, start: 0.75, duration: 0.25, velocity: 64 },
  ];
  const args = notes.toArgs(wire);
  assert.deepEqual(args, [36, 0, 0.5, 100, 38, 0.75, 0.25, 64]);
  assert.deepEqual(notes.fromArgs(args), wire);
  assert.throws(() => notes.fromArgs([1, 2, 3]), /come in fours/);
});

test("chunks keep the order and the size limit", () => {
  assert.deepEqual(notes.chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(notes.chunks([], 2), []);
});
