/*
 * Loop mode: after a loop generate finishes, the device keeps the loop evolving while Live
 * plays it. Finished variations wait in a queue; the next one is swapped in bar by bar as the
 * playhead leaves each bar (so no sounding bar changes under it), and whatever is left is
 * written when the playhead wraps at the loop end: from that loop boundary on, the whole loop
 * is the new variation. Each swap is one undo step. When the queue runs dry the device asks
 * the server for more variations of the loop as it now is (a background job).
 *
 * The Max glue feeds Device.position() from an observer on the clip's playing_position.
 */

var live = require("mg_live");

var EPS = 1e-6;

function install(Device, putBar) {
  Device.prototype.startLoop = function (job) {
    this.loop = { source: job, queue: [], swap: null, lastPos: null, swaps: 0, failed: false };
    for (var v = 1; v <= job.request.variations; v++) {
      if (v !== job.shown) this.loop.queue.push({ job: job, variation: v });
    }
    this.refillLoop();
  };

  Device.prototype.stopLoop = function () {
    var loop = this.loop;
    this.loop = null;
    this.looping = false;
    if (!loop) return;
    if (this.job && this.job.background) this.abandon("loop stopped");
    // A half-done swap is completed, so the clip never keeps a mix of two variations.
    if (loop.swap) this.swapBars(loop, loop.swap, function () { return true; });
  };

  /** Asks for more variations when none wait and none are being made. */
  Device.prototype.refillLoop = function () {
    var loop = this.loop;
    if (!loop || loop.queue.length || this.job || loop.failed) return;
    var job;
    try {
      job = this.prepare();
    } catch (e) {
      return this.loopFailed(e.message);
    }
    job.background = true;
    this.start(job);
  };

  /** A background job finished: its whole variations join the queue. */
  Device.prototype.loopReady = function (job) {
    if (!this.loop) return;
    for (var v = 1; v <= job.request.variations; v++) this.loop.queue.push({ job: job, variation: v });
    this.status("loop: " + this.loop.queue.length + " variation(s) ready");
  };

  /** A refill failed (or was let go of because the loop stopped, which says so itself). */
  Device.prototype.loopFailed = function (text) {
    if (!this.loop) return this.status(text);
    this.loop.failed = true;
    this.status("loop stopped: " + text);
  };

  Device.prototype.swapBars = function (loop, swap, due) {
    var source = loop.source;
    if (!source.writer) source.writer = new live.ClipWriter(this.env.LiveAPI, source.clipPath);
    var item = swap.item;
    source.spans.forEach(function (s) {
      if (swap.done[s.bar] || !due(s.span)) return;
      swap.undo.begin();
      putBar(source, s.bar, s.span, item.job.assembler.get(item.variation, 1, s.bar).notes);
      swap.done[s.bar] = true;
    });
    source.writer.modify(source.edit.changes());
    var complete = source.spans.every(function (s) { return swap.done[s.bar]; });
    if (complete) {
      swap.undo.end();
      loop.swap = null;
      loop.swaps += 1;
    }
    return complete;
  };

  /** The clip's playing_position (clip time), as Live reports it while the clip plays. */
  Device.prototype.position = function (pos) {
    var loop = this.loop;
    if (!loop) return;
    var wrapped = loop.lastPos !== null && pos < loop.lastPos - EPS;
    loop.lastPos = pos;
    if (!loop.swap && loop.queue.length) {
      loop.swap = { item: loop.queue.shift(), done: {}, undo: new live.UndoStep(this.env.LiveAPI, this.env.undo) };
    }
    if (!loop.swap) return;
    var item = loop.swap.item;
    var done = this.swapBars(loop, loop.swap, function (span) {
      return wrapped || span.end <= pos + EPS;
    });
    if (done) {
      this.status("loop: variation " + item.variation + " of job " + item.job.id + " swapped in (" + loop.swaps + " so far)");
      this.refillLoop();
    }
  };
}

exports.install = install;
