"use strict";
/*
 * A scripted stand-in for midigen-server speaking protocol 2 (docs/osc-protocol.md), in
 * process and without UDP, for the device tests that need exact control over replies: a bar's
 * notes, an error after some bars, silence, a lost /notes datagram, a refused request. The
 * end-to-end tests use the real server instead.
 *
 * Replies are delivered asynchronously (setImmediate), as datagrams would be.
 */

const TICKS = 96;

class FakeServer {
  constructor({ protocol = 2 } = {}) {
    this.protocol = protocol;
    this.device = null;
    this.received = [];
    this.uploads = {};
    this.token = 4242;
    this.script = {}; // per job number, or "*": options below
    this.barNotes = (job, variation, bar, start) => [{ pitch: 60 + variation, start: start, duration: 1, velocity: 90 }];
    this.running = true;
    this.jobs = {};
  }

  reply(address, ...args) {
    setImmediate(() => this.device.receive(address, args));
  }

  send(message) {
    const [address, ...a] = message;
    this.received.push(message);
    if (!this.running) return;
    const handler = {
      "/midigen/ping": () => this.reply("/midigen/pong", this.protocol, "0.1.0", "fake", "cpu", 8, 8, 0, ""),
      "/midigen/hello": () => this.reply("/midigen/welcome", this.token, 2, "0.1.0", "fake", "cpu", 8, 8, 0, ""),
      "/midigen/upload/begin": () => (this.uploads[a[1]] = { bars: a[3], meters: [], notes: 0 }),
      "/midigen/upload/meter": () => this.uploads[a[1]].meters.push([a[2], a[3], a[4]]),
      "/midigen/upload/notes": () => (this.uploads[a[1]].notes += (a.length - 4) / 4),
      "/midigen/upload/end": () => this.uploadEnd(a),
      "/midigen/generate": () => this.generate(a),
      "/midigen/status": () => this.reply("/midigen/state", a[1], this.state || "running", 0, 0, 0),
      "/midigen/cancel": () => this.reply("/midigen/cancelled", a[1], "cancel"),
      "/midigen/result": () => this.generate(this.jobs[a[1]], true),
    }[address];
    if (handler) handler();
  }

  /** With `loseChunk` set, the first /upload/end answers that the chunk is missing. */
  uploadEnd(a) {
    if (this.answerEndTwice && !this.answeredTwice) {
      this.answeredTwice = true;
      this.reply("/midigen/uploaded", a[1], this.uploads[a[1]].notes);
    }
    if (this.loseChunk && !this.askedForChunk) {
      this.askedForChunk = true;
      return this.reply("/midigen/upload/missing", a[1], 0, 0, this.loseChunk);
    }
    this.reply("/midigen/uploaded", a[1], this.uploads[a[1]].notes);
  }

  /** Plays a job: bars of every variation, then /done (or what the script says). */
  generate(a, replay = false) {
    const [token, job, pieceId, , variations] = a;
    this.jobs[job] = a;
    const s = Object.assign({}, this.script["*"] || {}, this.script[job] || {});
    if (token !== this.token) return this.reply("/midigen/refused", "/midigen/generate", "unknown_client", 0, "hello again");
    if (s.refuse) return this.reply("/midigen/refused", "/midigen/generate", "invalid_request", job, s.refuse);
    const first = a[11];
    const last = a[12];
    const meter = (this.uploads[pieceId].meters[0] || [1, 4, 4]);
    const barTicks = (meter[1] * 4 * TICKS) / meter[2];
    if (!replay) this.reply("/midigen/accepted", job, 0);
    if (s.silent) return; // a server that goes quiet after accepting
    const steps = [];
    for (let bar = first; bar <= last; bar++) {
      for (let v = 1; v <= variations; v++) steps.push([v, bar]);
    }
    let sent = 0;
    for (const [v, bar] of steps) {
      if (s.failAfter !== undefined && sent === s.failAfter) {
        return this.reply("/midigen/failed", job, "invalid_request", s.failText || "the model could not write it");
      }
      if (s.stopAfter !== undefined && sent === s.stopAfter) return;
      const start = (bar - 1) * barTicks;
      const notes = this.barNotes(job, v, bar, start / TICKS);
      const args = [];
      for (const n of notes) args.push(n.pitch, Math.round(n.start * TICKS), Math.round(n.duration * TICKS), n.velocity);
      const lose = s.lose && s.lose.some(([lv, lb]) => lv === v && lb === bar) && !replay;
      if (notes.length && !lose) this.reply("/midigen/notes", job, v, 1, bar, ...args);
      this.reply("/midigen/bar", job, v, 1, bar, notes.length, start, start + barTicks);
      sent += 1;
    }
    if (s.loseDone && !replay) {
      this.state = "done";
      return;
    }
    this.reply("/midigen/done", job, variations, steps.length, 0, 1, 2, 3, 10, 7);
  }
}

module.exports = { FakeServer, TICKS };
