"use strict";
/* The writing rule of docs/language.md, as mg_edit.js applies it to a clip. */
const test = require("node:test");
const assert = require("node:assert/strict");
const { ClipEdit } = require("mg_edit");

const kept = [
  { note_id: 1, pitch: 60, start_time: 1, duration: 6, velocity: 90 }, // before the selection, rings into it
  { note_id: 2, pitch: 62, start_time: 2, duration: 6, velocity: 90 }, // rings in, but no new 62
  { note_id: 3, pitch: 60, start_time: 13, duration: 1, velocity: 90 }, // after the selection
  { note_id: 4, pitch: 64, start_time: 5, duration: 1, velocity: 90 }, // inside: replaced, not kept
];

test("a kept note ringing into a new note of its pitch is cut where the new note starts", () => {
  const e = new ClipEdit(kept, 4, 12);
  const placed = e.place(2, [{ pitch: 60, start_time: 5, duration: 1, velocity: 80 }]);
  assert.deepEqual(placed.map((n) => n.duration), [1]);
  assert.deepEqual(e.changes().map((n) => [n.note_id, n.duration]), [[1, 4]]);
  assert.deepEqual(e.changes(), [], "nothing more to send once synced");
});

test("a new note ringing into a later kept note of its pitch ends where that note starts", () => {
  const e = new ClipEdit(kept, 4, 12);
  const placed = e.place(3, [{ pitch: 60, start_time: 10, duration: 6, velocity: 80 }, { pitch: 61, start_time: 10, duration: 6, velocity: 80 }]);
  assert.deepEqual(placed.map((n) => n.duration), [3, 6]);
});

test("a bar written again (flip, swap, rollback) takes its cut back", () => {
  const e = new ClipEdit(kept, 4, 12);
  e.place(2, [{ pitch: 60, start_time: 5, duration: 1, velocity: 80 }]);
  e.changes();
  e.place(2, [{ pitch: 67, start_time: 5, duration: 1, velocity: 80 }]);
  assert.deepEqual(e.changes().map((n) => [n.note_id, n.duration]), [[1, 6]]);
  e.place(2, [{ pitch: 60, start_time: 6, duration: 1, velocity: 80 }]);
  e.unplace(2);
  assert.deepEqual(e.changes(), [], "placed and taken back before syncing: nothing to send");
});

test("the earliest cut of several bars wins", () => {
  const e = new ClipEdit(kept, 4, 12);
  e.place(3, [{ pitch: 60, start_time: 6.5, duration: 1, velocity: 80 }]);
  e.place(2, [{ pitch: 60, start_time: 4.5, duration: 1, velocity: 80 }]);
  assert.deepEqual(e.changes().map((n) => [n.note_id, n.duration]), [[1, 3.5]]);
});
