/*
 * Protocol 2 (docs/osc-protocol.md): a session opened by /hello (the server answers
 * /welcome with a token that starts every later message), pieces uploaded in numbered chunks
 * that the server can ask for again (/upload/missing), times in integer ticks (96 per
 * quarter), register controls, /failed for jobs and /refused for requests, /status as the
 * heartbeat a live job needs. The device uses the job number as the piece number: one piece
 * per generate.
 *
 * ctx = {port, token, clientId}. A message is an array [address, arg, ...].
 */

var notes = require("mg_notes");

var VERSION = 2;
var TICKS = 96; // per quarter note
var UPLOAD_CHUNK = 60; // notes per /upload/notes (the protocol's maximum)
var NAME_CHARS = 64;
var HEARTBEAT_MS = 5000; // the server cancels a job after 30 s without a message; 10 s is the rule

/** Quarters to ticks, round half up (the plan's rule). */
function ticks(q) {
  return Math.floor(q * TICKS + 0.5);
}

function quarters(t) {
  return t / TICKS;
}

/** A client id the plan accepts: a letter, then hex; 64 random bits. */
function newClientId(random) {
  var id = "mg";
  for (var i = 0; i < 16; i++) id += "0123456789abcdef".charAt(Math.floor(random() * 16));
  return id;
}

function hello(ctx) {
  return ["/midigen/hello", VERSION, ctx.port, ctx.clientId];
}

function noteArgs(wire) {
  var args = [];
  wire.forEach(function (n) {
    args.push(n.pitch, ticks(n.start), Math.max(1, ticks(n.duration)), n.velocity);
  });
  return args;
}

/**
 * The upload of `piece` as piece number `id`: {messages, tracks, meters, chunks, end}, where
 * chunks maps a chunk number to its message, so a /upload/missing answer can be served.
 */
function upload(ctx, id, piece) {
  var t = ctx.token;
  var begin = ["/midigen/upload/begin", t, id, piece.tracks.length, piece.bars, piece.tempo];
  var tracks = piece.tracks.map(function (tr, i) {
    return ["/midigen/upload/track", t, id, i + 1, tr.program, tr.drum ? 1 : 0, String(tr.name || "").slice(0, NAME_CHARS)];
  });
  var meters = piece.meters.map(function (m) {
    return ["/midigen/upload/meter", t, id, m.bar, m.numerator, m.denominator];
  });
  var chunks = {};
  var n = 0;
  var count = 0;
  piece.tracks.forEach(function (tr, i) {
    var wire = tr.notes.filter(function (x) {
      return ticks(x.start) >= 0;
    });
    notes.chunks(wire, UPLOAD_CHUNK).forEach(function (chunk) {
      n += 1;
      chunks[n] = ["/midigen/upload/notes", t, id, n, i + 1].concat(noteArgs(chunk));
      count += chunk.length;
    });
  });
  var end = ["/midigen/upload/end", t, id, tracks.length, meters.length, n, count];
  var messages = [begin].concat(tracks, meters);
  for (var c = 1; c <= n; c++) messages.push(chunks[c]);
  messages.push(end);
  return { messages: messages, tracks: tracks, meters: meters, chunks: chunks, end: end };
}

/** What to send for an /upload/missing answer: the kinds and chunks it names, then end again. */
function resend(up, missing) {
  var out = [];
  if (missing.tracks > 0) out = out.concat(up.tracks);
  if (missing.meters > 0) out = out.concat(up.meters);
  missing.chunks.forEach(function (c) {
    if (up.chunks[c]) out.push(up.chunks[c]);
  });
  out.push(up.end);
  return out;
}

function anyOr(x) {
  return x === undefined || x === null ? -1 : x;
}

/** /generate on piece `id` (the job's own), with the register controls of protocol 2. */
function generate(ctx, id, request) {
  var msg = [
    "/midigen/generate", ctx.token, id, id, request.mode, request.variations, request.temperature,
    request.topP === undefined ? 0 : request.topP, anyOr(request.seed),
    request.velocity ? 1 : 0, request.microtiming ? 1 : 0,
  ];
  request.selections.forEach(function (s) {
    msg.push(s.track, s.firstBar, s.lastBar, anyOr(s.program), anyOr(s.density), anyOr(s.polyMin),
      anyOr(s.polyMax), anyOr(s.durMin), anyOr(s.durMax), anyOr(s.pitchMin), anyOr(s.pitchMax));
  });
  return msg;
}

function cancel(ctx, id) {
  return ["/midigen/cancel", ctx.token, id];
}

/** All of a finished job's bars again (variation, track, first and last bar 0 = all). */
function result(ctx, id) {
  return ["/midigen/result", ctx.token, id, 0, 0, 0, 0];
}

function status(ctx, id) {
  return ["/midigen/status", ctx.token, id];
}

function bye(ctx) {
  return ["/midigen/bye", ctx.token];
}

function need(args, n) {
  if (args.length < n) throw new Error("expected " + n + " arguments, got " + args.length);
}

function noteList(args) {
  return notes.fromArgs(args).map(function (n) {
    return { pitch: n.pitch, start: quarters(n.start), duration: quarters(n.duration), velocity: n.velocity };
  });
}

/** A reply as {kind, job, ...} with times in quarters; null for addresses it does not know. */
function parse(address, a) {
  switch (address) {
    case "/midigen/welcome":
      need(a, 5);
      return { kind: "welcome", token: a[0], protocol: a[1], version: a[2], model: a[3], device: a[4] };
    case "/midigen/uploaded":
      need(a, 2);
      return { kind: "uploaded", job: a[0], notes: a[1] };
    case "/midigen/upload/missing":
      need(a, 3);
      return { kind: "missing", job: a[0], tracks: a[1], meters: a[2], chunks: a.slice(3) };
    case "/midigen/accepted":
      need(a, 2);
      return { kind: "accepted", job: a[0], position: a[1] };
    case "/midigen/progress":
      need(a, 2);
      return { kind: "progress", job: a[0], fraction: a[1] };
    case "/midigen/notes":
      need(a, 4);
      return { kind: "notes", job: a[0], variation: a[1], track: a[2], bar: a[3], notes: noteList(a.slice(4)) };
    case "/midigen/bar":
      need(a, 7);
      return { kind: "bar", job: a[0], variation: a[1], track: a[2], bar: a[3], count: a[4], start: quarters(a[5]), end: quarters(a[6]) };
    case "/midigen/done":
      need(a, 9);
      return { kind: "done", job: a[0], variations: a[1], bars: a[2], totalMs: a[6], seed: a[8] };
    case "/midigen/cancelled":
      need(a, 2);
      return { kind: "cancelled", job: a[0], reason: a[1] };
    case "/midigen/failed":
      need(a, 3);
      return { kind: "error", job: a[0], code: a[1], message: a[2] };
    case "/midigen/refused":
      need(a, 4);
      // number is the job, or the piece for /upload/...: the same here (piece = job).
      return { kind: "error", job: a[2], code: a[1], message: a[3], address: a[0], refused: true };
    case "/midigen/state":
      need(a, 5);
      return { kind: "state", job: a[0], state: a[1], position: a[2], barsSent: a[3], barsTotal: a[4] };
  }
  return null;
}

exports.VERSION = VERSION;
exports.TICKS = TICKS;
exports.UPLOAD_CHUNK = UPLOAD_CHUNK;
exports.HEARTBEAT_MS = HEARTBEAT_MS;
exports.ticks = ticks;
exports.newClientId = newClientId;
exports.hello = hello;
exports.upload = upload;
exports.resend = resend;
exports.generate = generate;
exports.cancel = cancel;
exports.result = result;
exports.status = status;
exports.bye = bye;
exports.parse = parse;
