"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Assembler } = require("mg_stream");

const n = (pitch) => ({ pitch, start: 0, duration: 1, velocity: 90 });

test("a bar is handed out whole when its /bar closes it, across several /notes", () => {
  const a = new Assembler();
  a.addNotes({ variation: 1, track: 1, bar: 2, notes: [n(60), n(62)] });
  a.addNotes({ variation: 2, track: 1, bar: 2, notes: [n(70)] }); // another variation interleaves
  a.addNotes({ variation: 1, track: 1, bar: 2, notes: [n(64)] });
  const bar = a.closeBar({ variation: 1, track: 1, bar: 2, count: 3, start: 4, end: 8 });
  assert.deepEqual(bar.notes.map((x) => x.pitch), [60, 62, 64]);
  assert.deepEqual([bar.start, bar.end], [4, 8]);
  assert.equal(a.closeBar({ variation: 2, track: 1, bar: 2, count: 1, start: 4, end: 8 }).notes[0].pitch, 70);
});

test("an empty bar is whole with a count of 0", () => {
  const a = new Assembler();
  assert.deepEqual(a.closeBar({ variation: 1, track: 1, bar: 1, count: 0, start: 0, end: 4 }).notes, []);
});

test("a count that disagrees marks the bar missing until a resend completes it", () => {
  const a = new Assembler();
  a.addNotes({ variation: 1, track: 1, bar: 1, notes: [n(60)] });
  assert.equal(a.closeBar({ variation: 1, track: 1, bar: 1, count: 2, start: 0, end: 4 }), null);
  const expected = [{ variation: 1, track: 1, bar: 1 }];
  assert.deepEqual(a.missing(expected), expected);
  a.addNotes({ variation: 1, track: 1, bar: 1, notes: [n(60), n(61)] });
  assert.ok(a.closeBar({ variation: 1, track: 1, bar: 1, count: 2, start: 0, end: 4 }));
  assert.deepEqual(a.missing(expected), []);
});
