/*
 * Notes between Live and the wire. Live's notes are dictionaries in clip time
 * ({pitch, start_time, duration, velocity, mute, ...}); the protocol's are flat runs of
 * pitch start duration velocity in quarters from the uploaded piece's start. `origin` is the
 * clip time of the piece's bar 1.
 *
 * Max's [udpsend] sends a JavaScript number as an OSC int when it is integral and as a float
 * otherwise; the server accepts an int where it wants a float, so only the int fields
 * (pitch, velocity) must be rounded here.
 */

var EPS = 1e-6;

function clampInt(x, lo, hi) {
  var n = Math.round(Number(x));
  if (isNaN(n)) return lo;
  return n < lo ? lo : n > hi ? hi : n;
}

/**
 * Live notes -> wire notes [{pitch, start, duration, velocity}] relative to `origin`.
 * Muted notes do not sound, so they are not context; notes before the origin or starting at or
 * after `end` (piece time, optional) are left out, and a note ringing past `end` is cut there.
 */
function fromLive(liveNotes, origin, end) {
  var out = [];
  for (var i = 0; i < liveNotes.length; i++) {
    var n = liveNotes[i];
    if (n.mute) continue;
    var start = n.start_time - origin;
    if (start < -EPS) continue;
    if (start < 0) start = 0;
    if (end !== undefined && start >= end - EPS) continue;
    var duration = n.duration;
    if (end !== undefined && start + duration > end) duration = end - start;
    if (!(duration > EPS)) continue;
    out.push({
      pitch: clampInt(n.pitch, 0, 127),
      start: start,
      duration: duration,
      velocity: clampInt(n.velocity === undefined ? 100 : n.velocity, 1, 127),
    });
  }
  out.sort(function (a, b) {
    return a.start - b.start || a.pitch - b.pitch;
  });
  return out;
}

/** Wire notes -> the dictionaries add_new_notes takes, in clip time. */
function toLive(wireNotes, origin) {
  var out = [];
  for (var i = 0; i < wireNotes.length; i++) {
    var n = wireNotes[i];
    out.push({
      pitch: n.pitch,
      start_time: n.start + origin,
      duration: n.duration,
      velocity: n.velocity,
      mute: 0,
    });
  }
  return out;
}

/** Flatten wire notes into OSC arguments: pitch start duration velocity, repeated. */
function toArgs(wireNotes) {
  var args = [];
  for (var i = 0; i < wireNotes.length; i++) {
    var n = wireNotes[i];
    args.push(clampInt(n.pitch, 0, 127), n.start, n.duration, clampInt(n.velocity, 1, 127));
  }
  return args;
}

/** OSC arguments (groups of four) -> wire notes; a clear error when they do not group. */
function fromArgs(args) {
  if (args.length % 4 !== 0) {
    throw new Error("note arguments come in fours (pitch start duration velocity), got " + args.length);
  }
  var out = [];
  for (var i = 0; i < args.length; i += 4) {
    out.push({ pitch: args[i], start: args[i + 1], duration: args[i + 2], velocity: args[i + 3] });
  }
  return out;
}

/** Split a list into runs of at most `size` (the protocol caps notes per message). */
function chunks(list, size) {
  var out = [];
  for (var i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

exports.fromLive = fromLive;
exports.toLive = toLive;
exports.toArgs = toArgs;
exports.fromArgs = fromArgs;
exports.chunks = chunks;
