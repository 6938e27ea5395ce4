/*
 * Protocol 1 (docs/osc-protocol.md as the server spoke it first): every message starts with
 * the reply port, the job number names the upload too, times are quarters. Kept so the device
 * works with a server that has not moved to protocol 2; mg_protocol.js picks the dialect from
 * the server's /pong.
 *
 * A message is an array [address, arg, arg, ...]. ctx = {port} here.
 */

var notes = require("mg_notes");

var VERSION = 1;
var UPLOAD_CHUNK = 64; // notes per /upload/notes: the protocol allows 256, 64 fits any MTU

/** The messages that upload `piece` under job `id`, in order (begin ... end). */
function upload(ctx, id, piece) {
  var out = [["/midigen/upload/begin", ctx.port, id, piece.tracks.length, piece.bars, piece.tempo]];
  var count = 0;
  piece.tracks.forEach(function (t, i) {
    out.push(["/midigen/upload/track", ctx.port, id, i + 1, t.program, t.drum ? 1 : 0, String(t.name || "").slice(0, 128)]);
  });
  piece.meters.forEach(function (m) {
    out.push(["/midigen/upload/meter", ctx.port, id, m.bar, m.numerator, m.denominator]);
  });
  piece.tracks.forEach(function (t, i) {
    notes.chunks(t.notes, UPLOAD_CHUNK).forEach(function (chunk) {
      out.push(["/midigen/upload/notes", ctx.port, id, i + 1].concat(notes.toArgs(chunk)));
      count += chunk.length;
    });
  });
  out.push(["/midigen/upload/end", ctx.port, id, count]);
  return { messages: out };
}

function anyOr(x) {
  return x === undefined || x === null ? -1 : x;
}

/** /generate on the upload of the same number; protocol 1 has no register controls. */
function generate(ctx, id, request) {
  var msg = [
    "/midigen/generate", ctx.port, id, request.mode, request.variations, request.temperature,
    request.topP === undefined ? 1 : request.topP, anyOr(request.seed),
    request.velocity ? 1 : 0, request.microtiming ? 1 : 0,
  ];
  request.selections.forEach(function (s) {
    msg.push(s.track, s.firstBar, s.lastBar, anyOr(s.program), anyOr(s.density), anyOr(s.polyMin),
      anyOr(s.polyMax), anyOr(s.durMin), anyOr(s.durMax));
  });
  return msg;
}

function cancel(ctx, id) {
  return ["/midigen/cancel", ctx.port, id];
}

/** Ask for a finished job's bars again (protocol 1 resends them all). */
function result(ctx, id) {
  return ["/midigen/result", ctx.port, id];
}

function need(args, n) {
  if (args.length < n) throw new Error("expected " + n + " arguments, got " + args.length);
}

/** A reply as {kind, job, ...}; times in quarters; null for addresses this dialect lacks. */
function parse(address, a) {
  switch (address) {
    case "/midigen/uploaded":
      need(a, 2);
      return { kind: "uploaded", job: a[0], notes: a[1] };
    case "/midigen/accepted":
      need(a, 2);
      return { kind: "accepted", job: a[0], position: a[1] };
    case "/midigen/progress":
      need(a, 2);
      return { kind: "progress", job: a[0], fraction: a[1] };
    case "/midigen/notes":
      need(a, 4);
      return { kind: "notes", job: a[0], variation: a[1], track: a[2], bar: a[3], notes: notes.fromArgs(a.slice(4)) };
    case "/midigen/bar":
      need(a, 7);
      return { kind: "bar", job: a[0], variation: a[1], track: a[2], bar: a[3], count: a[4], start: a[5], end: a[6] };
    case "/midigen/done":
      need(a, 9);
      return { kind: "done", job: a[0], variations: a[1], bars: a[2], totalMs: a[6], seed: a[8] };
    case "/midigen/cancelled":
      need(a, 2);
      return { kind: "cancelled", job: a[0], reason: a[1] };
    case "/midigen/error":
      need(a, 3);
      return { kind: "error", job: a[0], code: a[1], message: a[2] };
  }
  return null;
}

exports.VERSION = VERSION;
exports.UPLOAD_CHUNK = UPLOAD_CHUNK;
exports.hello = null; // protocol 1 has no session: the reply port is in every message
exports.status = null; // nor a heartbeat
exports.upload = upload;
exports.generate = generate;
exports.cancel = cancel;
exports.result = result;
exports.parse = parse;
