/*
 * Bar math with meters. Live measures clip time in quarter notes (beats of a quarter, whatever
 * the signature), and so does the midigen protocol; bars are 1-based as Live shows them.
 *
 * A meter list is [{bar, numerator, denominator}, ...] sorted by bar, the first at bar 1: the
 * signature from that bar on. Live's LOM gives one signature per clip, but keeping a list lets
 * the same code upload meter changes and keeps the math honest about non-4/4 bars.
 *
 * ES5 on purpose: this file runs in Max's [js] (require with exports.*) and under Node.
 */

var EPS = 1e-6;

/** Quarters in one bar of numerator/denominator (6/8 -> 3, 7/4 -> 7, 2/2 -> 4). */
function barQuarters(numerator, denominator) {
  return (numerator * 4) / denominator;
}

function checkMeters(meters) {
  if (!meters || !meters.length) throw new Error("a meter list needs at least one meter");
  if (meters[0].bar !== 1) throw new Error("the first meter must start at bar 1");
  for (var i = 0; i < meters.length; i++) {
    var m = meters[i];
    if (!(m.numerator >= 1 && m.numerator <= 32 && Math.floor(m.numerator) === m.numerator)) {
      throw new Error("meter numerator " + m.numerator + " is not an integer 1-32");
    }
    if ([1, 2, 4, 8, 16, 32].indexOf(m.denominator) < 0) {
      throw new Error("meter denominator " + m.denominator + " is not 1, 2, 4, 8, 16 or 32");
    }
    if (i > 0 && !(m.bar > meters[i - 1].bar)) throw new Error("meters must be in increasing bar order");
  }
}

/** The meter in force at a 1-based bar. */
function meterAt(meters, bar) {
  var current = meters[0];
  for (var i = 1; i < meters.length && meters[i].bar <= bar; i++) current = meters[i];
  return current;
}

/** Start (quarters from bar 1) of a 1-based bar; bars past the last meter keep its length. */
function barStart(meters, bar) {
  checkMeters(meters);
  var t = 0;
  for (var b = 1; b < bar; b++) {
    var m = meterAt(meters, b);
    t += barQuarters(m.numerator, m.denominator);
  }
  return t;
}

/** [start, end) of a 1-based bar in quarters. */
function barSpan(meters, bar) {
  var start = barStart(meters, bar);
  var m = meterAt(meters, bar);
  return { start: start, end: start + barQuarters(m.numerator, m.denominator) };
}

/** The 1-based bar that contains time t (t >= 0); a time on a bar line belongs to the new bar. */
function barAt(meters, t) {
  checkMeters(meters);
  if (t < -EPS) throw new Error("time " + t + " is before bar 1");
  var bar = 1;
  var start = 0;
  for (;;) {
    var m = meterAt(meters, bar);
    var end = start + barQuarters(m.numerator, m.denominator);
    if (t < end - EPS) return bar;
    start = end;
    bar += 1;
  }
}

/**
 * The whole bars covering [start, end): {first, last}, snapped outwards, so a clip loop that
 * starts or ends inside a bar selects that bar. end <= start selects the one bar at start.
 */
function barsCovering(meters, start, end) {
  var first = barAt(meters, Math.max(0, start));
  if (!(end > start + EPS)) return { first: first, last: first };
  return { first: first, last: Math.max(first, barsToReach(meters, end)) };
}

/** How many bars it takes to reach time t: the last bar that starts before t (at least 1). */
function barsToReach(meters, t) {
  if (t <= EPS) return 1;
  var bar = barAt(meters, t);
  return barStart(meters, bar) >= t - EPS ? Math.max(1, bar - 1) : bar;
}

exports.EPS = EPS;
exports.barQuarters = barQuarters;
exports.checkMeters = checkMeters;
exports.meterAt = meterAt;
exports.barStart = barStart;
exports.barSpan = barSpan;
exports.barAt = barAt;
exports.barsCovering = barsCovering;
exports.barsToReach = barsToReach;
