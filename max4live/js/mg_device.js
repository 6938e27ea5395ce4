/*
 * The device's behaviour, free of Max: settings in; a generate's whole life (ping, hello,
 * paced upload, generate, streamed bars written into the clip, done / error / cancel /
 * timeout); variation flips; the status line. The Max glue (midigen.js) and the Node tests
 * drive it through the same `env`:
 *
 *   env.LiveAPI            LiveAPI constructor (Max's, or the fake)
 *   env.send(message)      [address, args...] to the server ([udpsend])
 *   env.status(text)       the status line
 *   env.setTimer(fn, ms)   one-shot timer, returns a handle; env.clearTimer(handle)
 *   env.now()              milliseconds
 *   env.port               this instance's reply port
 *   env.clientId           protocol 2's client id, kept with the device (made up if absent)
 *   env.undo               true where Song.begin_undo_step exists (Live 12+)
 *   env.serverPort         shown in the "not running" hint (9000)
 *   env.firstJob           the first job number (1 if absent)
 *
 * Writing rules: only bars of the selection on the detail clip are written, each as
 * remove_notes_extended over the bar + one add_new_notes; the shown variation streams in as
 * its bars finish, inside one undo step that closes when the job is done. If the job fails,
 * is cancelled or times out, the bars already written get their original notes back before
 * the step closes, so the clip ends as it was.
 */

var protocol = require("mg_protocol");
var stream = require("mg_stream");
var live = require("mg_live");
var piece = require("mg_piece");
var bars = require("mg_bars");
var notes = require("mg_notes");
var edit = require("mg_edit");

var DEFAULTS = {
  mode: "infill", // infill | continue | loop
  fromBar: 0, // 0: the clip's loop
  toBar: 0,
  density: -1, // -1: any
  polyMin: -1,
  polyMax: -1,
  durMin: -1,
  durMax: -1,
  pitchMin: -1, // register (protocol 2)
  pitchMax: -1,
  velocity: 1, // 1: the model's velocities; 0: the track's mean
  temperature: 1.0,
  topP: 0.95,
  variations: 1,
  seed: -1,
};

var TIMEOUTS = {
  pong: 1500, // no /pong: the server is not running
  reply: 5000, // no /welcome, /uploaded or /accepted
  uploadEnd: 1000, // protocol 2: /upload/end is sent again after this, at most 5 times
  stall: 30000, // nothing from a queued or running job for this long
};

var MODES = ["infill", "continue", "loop"];

function Device(env) {
  this.env = env;
  this.settings = {};
  for (var k in DEFAULTS) this.settings[k] = DEFAULTS[k];
  this.timeouts = env.timeouts || TIMEOUTS;
  // After a reload, protocol 2 gives the same client its old jobs back: start elsewhere.
  this.nextJob = env.firstJob || 1;
  this.job = null; // the live job (foreground, or a loop refill in the background)
  this.last = null; // the last finished foreground job: its variations can be flipped
  this.loop = null; // loop-mode state (mg_loop.js)
  this.timer = null;
  this.beat = null;
  this.dialect = null; // the protocol module the server speaks
  this.ctx = { port: env.port, token: null, clientId: env.clientId || protocol.dialect(2).newClientId(Math.random) };
  this.waiting = null; // what to do on /pong or /welcome
}

Device.prototype.status = function (text) {
  this.statusText = text;
  this.env.status(text);
};

Device.prototype.notRunning = function () {
  return "server not running: start `midigen-server --port " + (this.env.serverPort || 9000) + "`";
};

/** A UI setting; numbers arrive from live.* objects, the mode as its index or its name. */
Device.prototype.set = function (name, value) {
  if (!(name in DEFAULTS)) throw new Error("unknown setting " + name);
  if (name === "mode") {
    value = typeof value === "number" ? MODES[value] : value;
    if (MODES.indexOf(value) < 0) throw new Error("mode must be infill, continue or loop");
    if (value !== "loop" && this.loop) this.stopLoop();
  }
  this.settings[name] = value;
};

Device.prototype.arm = function (ms, what) {
  var self = this;
  this.disarm();
  this.timer = this.env.setTimer(function () {
    self.timer = null;
    what.call(self);
  }, ms);
};

Device.prototype.disarm = function () {
  if (this.timer !== null) this.env.clearTimer(this.timer);
  this.timer = null;
};

Device.prototype.send = function (message) {
  this.env.send(message);
};

/** The generate button. */
Device.prototype.generate = function () {
  if (this.job) this.abandon("superseded by a new generate");
  if (this.loop) this.stopLoop();
  var job;
  try {
    job = this.prepare();
  } catch (e) {
    this.status(e.message);
    return;
  }
  this.looping = job.mode === "loop";
  this.start(job);
};

/** Connects and uploads `job` (a foreground generate, or a loop refill in the background). */
Device.prototype.start = function (job) {
  this.job = job;
  if (!job.background) this.status("connecting...");
  var self = this;
  this.connect(function () {
    self.upload(job);
  });
};

/** Reads Live and builds the job: piece, selection, request. Throws with a status message. */
Device.prototype.prepare = function () {
  var s = this.settings;
  var sel = live.readSelection(this.env.LiveAPI);
  var meters = piece.clipMeters(sel);
  var chosen = piece.selectedBars(meters, sel.target.clip, s.fromBar, s.toBar);
  var pieceBars;
  var first = chosen.first;
  var last = chosen.last;
  if (s.mode === "continue") {
    // Continue after the selection's last bar with as many new bars as the selection has.
    pieceBars = chosen.last;
    first = chosen.last + 1;
    last = chosen.last + (chosen.last - chosen.first + 1);
    if (last - first + 1 > 64) throw new Error("continue adds at most 64 bars: select fewer");
  } else {
    var clip = sel.target.clip;
    pieceBars = bars.barsToReach(meters, Math.max(clip.loopEnd, clip.endMarker, bars.barSpan(meters, chosen.last).end));
  }
  if (pieceBars > 512) throw new Error("the clip is longer than 512 bars, the most the server takes");
  var spans = [];
  for (var b = first; b <= last; b++) spans.push({ bar: b, span: bars.barSpan(meters, b) });
  var c = sel.target.clip;
  var selection = { start: spans[0].span.start, end: spans[spans.length - 1].span.end };
  return {
    id: this.nextJob++,
    mode: s.mode,
    clipPath: c.ref,
    original: sel.target.notes,
    edit: new edit.ClipEdit(sel.target.notes, selection.start, selection.end),
    clipEnd: { loopEnd: c.loopEnd, endMarker: c.endMarker, looping: c.looping },
    piece: piece.buildPiece(sel, meters, pieceBars),
    request: {
      mode: s.mode,
      variations: Math.max(1, Math.min(16, Math.round(s.variations))),
      temperature: s.temperature,
      topP: s.topP,
      seed: s.seed,
      velocity: s.velocity,
      microtiming: 1,
      selections: [{
        track: 1, firstBar: first, lastBar: last, program: -1, density: s.density,
        polyMin: s.polyMin, polyMax: s.polyMax, durMin: s.durMin, durMax: s.durMax,
        pitchMin: s.pitchMin, pitchMax: s.pitchMax,
      }],
    },
    spans: spans,
    shown: 1,
    written: {},
    assembler: new stream.Assembler(),
    undo: new live.UndoStep(this.env.LiveAPI, this.env.undo),
    writer: null,
    askedAgain: false,
    background: false,
  };
};

/** Everything [udpreceive] gets. */
Device.prototype.receive = function (address, args) {
  var r = protocol.parseReply(this.dialect, address, args);
  if (r.kind === "ignored") return;
  if (r.kind === "malformed") return this.status("bad reply from the server: " + r.why);
  if (r.kind === "pong") return this.onPong(r);
  if (r.kind === "welcome") return this.onWelcome(r);
  var job = this.job;
  if (r.kind === "error" && r.address === "/midigen/hello" && this.waiting && this.waiting.welcome) {
    return this.fail("server: " + r.message);
  }
  if (!job) return;
  // A stale token is the client's, not a job's: the server restarted or forgot us.
  var forUs = r.job === job.id || (r.kind === "error" && r.code === "unknown_client");
  if (!forUs) return; // a reply to a job we have let go of
  switch (r.kind) {
    case "missing":
      var self = this;
      return this.sendPaced(job, this.dialect.resend(job.up, r), function () {
        self.awaitUploaded(job);
      });
    case "uploaded":
      if (job.generated) return; // an /upload/end sent again was answered again
      job.generated = true;
      this.send(this.dialect.generate(this.ctx, job.id, job.request));
      if (!job.background) this.status("uploaded " + r.notes + " notes, waiting for the server...");
      this.heartbeat(job);
      return this.arm(this.timeouts.reply, function () {
        this.abandon("timed out: the server did not accept the job");
      });
    case "accepted":
      if (!job.background) this.status(r.position > 0 ? "queued: " + r.position + " job(s) ahead" : "generating...");
      return this.armStall();
    case "state":
      if (r.state === "unknown") return this.fail("the server lost the job (restarted?): press generate again");
      if (/^(done|cancelled|failed)$/.test(r.state) && !job.replayed) {
        // It ended but its last message was lost: the replay ends with it again.
        job.replayed = true;
        this.send(this.dialect.result(this.ctx, job.id));
      }
      return this.armStall();
    case "progress":
      if (!job.background) this.status("generating: " + Math.round(r.fraction * 100) + " %");
      return this.armStall();
    case "notes":
      job.assembler.addNotes(r);
      return this.armStall();
    case "bar":
      var bar = job.assembler.closeBar(r);
      if (bar && !job.background && bar.variation === job.shown && bar.track === 1 && !job.written[bar.bar]) this.writeBar(job, bar);
      return this.armStall();
    case "done":
      job.done = r;
      return this.finish(job);
    case "cancelled":
      return this.fail(r.reason === "cancel" ? "cancelled" : "cancelled by the server (" + r.reason + ")");
    case "error":
      return this.fail("server: " + r.message);
  }
};

Device.prototype.armStall = function () {
  this.arm(this.timeouts.stall, function () {
    this.abandon("timed out: no word from the server for " + Math.round(this.timeouts.stall / 1000) + " s");
  });
};

function spanOf(job, bar) {
  for (var i = 0; i < job.spans.length; i++) if (job.spans[i].bar === bar) return job.spans[i].span;
  return null;
}

/** Writes one whole bar of the shown variation, opening the undo step on the first. */
Device.prototype.writeBar = function (job, bar) {
  var span = spanOf(job, bar.bar);
  if (!span) return; // never outside the selection
  if (!job.writer) job.writer = new live.ClipWriter(this.env.LiveAPI, job.clipPath);
  job.undo.begin();
  if (job.mode === "continue" && !job.extended) {
    job.writer.extendTo(job.spans[job.spans.length - 1].span.end);
    job.extended = true;
  }
  putBar(job, bar.bar, span, bar.notes);
  job.writer.modify(job.edit.changes());
  job.written[bar.bar] = true;
};

/** One bar into the clip by the writing rule (mg_edit.js); kept notes are synced by the caller. */
function putBar(job, barNumber, span, wireNotes) {
  var placed = job.edit.place(barNumber, notes.toLive(wireNotes, 0));
  job.writer.writeBar(span.start, span.end, placed);
}

Device.prototype.expected = function (job) {
  var out = [];
  for (var v = 1; v <= job.request.variations; v++) {
    job.spans.forEach(function (s) {
      out.push({ variation: v, track: 1, bar: s.bar });
    });
  }
  return out;
};

Device.prototype.stopTimers = function () {
  this.disarm();
  if (this.beat !== null) this.env.clearTimer(this.beat);
  this.beat = null;
};

/** /done: every bar should be here; ask once for lost ones again, then close the step. */
Device.prototype.finish = function (job) {
  var missing = job.assembler.missing(this.expected(job));
  if (missing.length) {
    if (job.askedAgain) return this.fail("lost " + missing.length + " bar(s) twice; nothing kept");
    job.askedAgain = true;
    this.send(this.dialect.result(this.ctx, job.id));
    if (!job.background) this.status("asking the server again for " + missing.length + " lost bar(s)...");
    return this.arm(this.timeouts.reply, function () {
      this.fail("timed out: the server did not resend the lost bars");
    });
  }
  this.stopTimers();
  this.job = null;
  if (job.background) return this.loopReady(job);
  var self = this;
  job.spans.forEach(function (s) {
    if (!job.written[s.bar]) self.writeBar(job, job.assembler.get(job.shown, 1, s.bar));
  });
  job.undo.end();
  this.last = job;
  var k = job.request.variations;
  this.status("done in " + Math.round(job.done.totalMs) + " ms" + (k > 1 ? ": variation 1 of " + k : ""));
  if (job.mode === "loop" && this.looping) this.startLoop(job);
};

/** Error, cancel or timeout: the clip gets back what it had, the undo step closes. */
Device.prototype.fail = function (text) {
  var job = this.job;
  this.stopTimers();
  this.waiting = null;
  this.job = null;
  if (job && job.background) return this.loopFailed(text);
  if (job) this.rollback(job);
  this.status(text);
};

Device.prototype.rollback = function (job) {
  if (!job.writer) return;
  job.spans.forEach(function (s) {
    if (!job.written[s.bar]) return;
    var before = job.original.filter(function (n) {
      return n.start_time >= s.span.start - 1e-6 && n.start_time < s.span.end - 1e-6;
    });
    job.edit.unplace(s.bar);
    job.writer.writeBar(s.span.start, s.span.end, before);
  });
  job.writer.modify(job.edit.changes());
  if (job.extended) {
    var clip = new this.env.LiveAPI(job.clipPath);
    if (job.clipEnd.looping) clip.set("loop_end", job.clipEnd.loopEnd);
    clip.set("end_marker", job.clipEnd.endMarker);
  }
  job.undo.end();
};

/** Lets go of the live job without waiting: cancel it on the server, restore the clip. */
Device.prototype.abandon = function (why) {
  var job = this.job;
  if (!job) return;
  if (this.dialect && (job.up || this.ctx.token)) this.send(this.dialect.cancel(this.ctx, job.id));
  this.fail(why);
};

/** The cancel button: stops the job and loop mode's evolution. */
Device.prototype.cancel = function () {
  var looping = !!this.loop;
  if (this.loop) this.stopLoop();
  if (this.job) return this.abandon("cancelled");
  this.status(looping ? "loop stopped" : "nothing to cancel");
};

/**
 * Flips the last job's result to variation k: one undo step that rewrites its bars. Only while
 * no foreground job runs (its bars would interleave).
 */
Device.prototype.showVariation = function (k) {
  var job = this.last;
  if (this.job && !this.job.background) return this.status("wait for the running job before flipping variations");
  if (!job) return this.status("no variations yet: press generate");
  if (!(k >= 1 && k <= job.request.variations)) return this.status("variation " + k + " does not exist (1-" + job.request.variations + ")");
  if (k === job.shown) return;
  var step = new live.UndoStep(this.env.LiveAPI, this.env.undo);
  step.begin();
  job.spans.forEach(function (s) {
    putBar(job, s.bar, s.span, job.assembler.get(k, 1, s.bar).notes);
  });
  job.writer.modify(job.edit.changes());
  step.end();
  job.shown = k;
  this.status("variation " + k + " of " + job.request.variations);
};

exports.Device = Device;
exports.DEFAULTS = DEFAULTS;
exports.TIMEOUTS = TIMEOUTS;
exports.MODES = MODES;

require("mg_connect").install(Device);
require("mg_loop").install(Device, putBar);
