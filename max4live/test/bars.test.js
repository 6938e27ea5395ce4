"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const bars = require("mg_bars");

const FOUR = [{ bar: 1, numerator: 4, denominator: 4 }];
// 4/4, then 6/8 from bar 3, then 7/8 from bar 5.
const MIXED = [
  { bar: 1, numerator: 4, denominator: 4 },
  { bar: 3, numerator: 6, denominator: 8 },
  { bar: 5, numerator: 7, denominator: 8 },
];

test("bar lengths in quarters follow the meter", () => {
  assert.equal(bars.barQuarters(4, 4), 4);
  assert.equal(bars.barQuarters(6, 8), 3);
  assert.equal(bars.barQuarters(7, 8), 3.5);
  assert.equal(bars.barQuarters(2, 2), 4);
  assert.equal(bars.barQuarters(5, 16), 1.25);
});

test("bar spans across meter changes", () => {
  assert.deepEqual(bars.barSpan(MIXED, 1), { start: 0, end: 4 });
  assert.deepEqual(bars.barSpan(MIXED, 3), { start: 8, end: 11 });
  assert.deepEqual(bars.barSpan(MIXED, 4), { start: 11, end: 14 });
  assert.deepEqual(bars.barSpan(MIXED, 5), { start: 14, end: 17.5 });
  assert.deepEqual(bars.barSpan(MIXED, 6), { start: 17.5, end: 21 }, "the last meter goes on");
});

test("a time on a bar line belongs to the bar that starts there", () => {
  assert.equal(bars.barAt(MIXED, 0), 1);
  assert.equal(bars.barAt(MIXED, 7.999), 2);
  assert.equal(bars.barAt(MIXED, 8), 3);
  assert.equal(bars.barAt(MIXED, 14), 5);
  assert.equal(bars.barAt(MIXED, 17.4), 5);
  assert.throws(() => bars.barAt(MIXED, -1), /before bar 1/);
});

test("a span selects the whole bars it touches, and no bar it only ends on", () => {
  assert.deepEqual(bars.barsCovering(FOUR, 0, 16), { first: 1, last: 4 });
  assert.deepEqual(bars.barsCovering(FOUR, 2, 9), { first: 1, last: 3 });
  assert.deepEqual(bars.barsCovering(MIXED, 8, 14), { first: 3, last: 4 });
  assert.deepEqual(bars.barsCovering(FOUR, 4, 4), { first: 2, last: 2 });
  assert.equal(bars.barsToReach(FOUR, 16), 4);
  assert.equal(bars.barsToReach(FOUR, 16.5), 5);
  assert.equal(bars.barsToReach(MIXED, 17.5), 5);
  assert.equal(bars.barsToReach(FOUR, 0), 1);
});

test("bad meters are refused with the reason", () => {
  assert.throws(() => bars.barStart([{ bar: 2, numerator: 4, denominator: 4 }], 1), /first meter must start at bar 1/);
  assert.throws(() => bars.barStart([{ bar: 1, numerator: 4, denominator: 3 }], 1), /denominator 3/);
  assert.throws(() => bars.barStart([{ bar: 1, numerator: 0, denominator: 4 }], 1), /numerator 0/);
  assert.throws(() => bars.barStart([FOUR[0], { bar: 1, numerator: 3, denominator: 4 }], 1), /increasing bar order/);
});
