/*
 * Streaming assembly: the server sends each finished bar as zero or more /notes messages
 * closed by one /bar that states the bar's note count. This collects them per
 * (variation, track, bar) and hands out a bar only when it is whole, so a lost /notes datagram
 * is noticed (the count disagrees) instead of writing half a bar into the clip.
 */

function key(variation, track, bar) {
  return variation + ":" + track + ":" + bar;
}

function Assembler() {
  this.open = {}; // key -> notes gathered since the last /bar of that key
  this.bars = {}; // key -> {variation, track, bar, start, end, notes} for whole bars
  this.broken = {}; // key -> true when a /bar's count disagreed with the notes gathered
}

/** A /notes reply: its notes join the bar's open group. */
Assembler.prototype.addNotes = function (reply) {
  var k = key(reply.variation, reply.track, reply.bar);
  if (!this.open[k]) this.open[k] = [];
  this.open[k] = this.open[k].concat(reply.notes);
};

/**
 * A /bar reply closes the group. Returns the whole bar, or null when notes were lost (the bar
 * is then listed by missing() until a resend completes it).
 */
Assembler.prototype.closeBar = function (reply) {
  var k = key(reply.variation, reply.track, reply.bar);
  var got = this.open[k] || [];
  delete this.open[k];
  if (got.length !== reply.count) {
    this.broken[k] = true;
    return null;
  }
  delete this.broken[k];
  var bar = { variation: reply.variation, track: reply.track, bar: reply.bar, start: reply.start, end: reply.end, notes: got };
  this.bars[k] = bar;
  return bar;
};

Assembler.prototype.get = function (variation, track, bar) {
  return this.bars[key(variation, track, bar)] || null;
};

/** Bars of `expected` ([{variation, track, bar}]) that are not whole yet. */
Assembler.prototype.missing = function (expected) {
  var self = this;
  return expected.filter(function (e) {
    return !self.bars[key(e.variation, e.track, e.bar)];
  });
};

exports.Assembler = Assembler;
