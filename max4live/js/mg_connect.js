/*
 * Talking to the server: ping and the dialect it speaks, protocol 2's hello, the paced upload
 * and its missing-chunk answers, and the heartbeat a live protocol-2 job needs. Methods of
 * Device (mg_device.js), kept apart so that file holds what the device does with the replies.
 */

var protocol = require("mg_protocol");

var PACE_BATCH = 32; // datagrams, then a pause (protocol 2's upload pacing rule)
var PACE_MS = 20;

function install(Device) {
  /**
   * Sends messages PACE_BATCH at a time with PACE_MS between batches, then calls then();
   * stops if `job` is no longer the live job (cancelled meanwhile).
   */
  Device.prototype.sendPaced = function (job, messages, then) {
    var self = this;
    var i = 0;
    function batch() {
      if (self.job !== job) return;
      for (var n = 0; n < PACE_BATCH && i < messages.length; n++) self.send(messages[i++]);
      if (i < messages.length) self.env.setTimer(batch, PACE_MS);
      else then();
    }
    batch();
  };

  /** The device is deleted: protocol 2 lets the server drop this client's jobs and pieces. */
  Device.prototype.leave = function () {
    if (this.dialect && this.dialect.bye && this.ctx.token) this.send(this.dialect.bye(this.ctx));
  };

  /**
   * Ping, pick the dialect the server speaks, say hello where it has sessions; then(). On the
   * first generate and on every later one, so a restarted or upgraded server is noticed.
   */
  Device.prototype.connect = function (then) {
    this.waiting = { pong: then };
    this.send(protocol.ping(this.ctx.port));
    this.arm(this.timeouts.pong, function () {
      this.waiting = null;
      this.dialect = null;
      this.fail(this.notRunning());
    });
  };

  /** On load: say whether the server is there. */
  Device.prototype.ping = function () {
    var self = this;
    this.connect(function () {
      self.disarm();
      self.status("connected: " + self.server.model + " on " + self.server.device + " (protocol " + self.dialect.VERSION + ")");
    });
  };

  Device.prototype.onPong = function (r) {
    if (!this.waiting || !this.waiting.pong) return;
    var then = this.waiting.pong;
    this.waiting = null;
    this.disarm();
    this.server = r;
    this.dialect = protocol.dialect(r.protocol);
    if (!this.dialect) {
      return this.fail("the server speaks protocol " + r.protocol + "; this device speaks " + protocol.supported() + ": update one of them");
    }
    if (!this.dialect.hello) return then();
    this.waiting = { welcome: then };
    this.send(this.dialect.hello(this.ctx));
    this.arm(this.timeouts.reply, function () {
      this.waiting = null;
      this.fail("timed out: the server did not answer /hello");
    });
  };

  Device.prototype.onWelcome = function (r) {
    if (!this.waiting || !this.waiting.welcome) return;
    var then = this.waiting.welcome;
    this.waiting = null;
    this.disarm();
    this.ctx.token = r.token;
    then();
  };

  Device.prototype.upload = function (job) {
    var self = this;
    job.up = this.dialect.upload(this.ctx, job.id, job.piece);
    job.endTries = 0;
    if (!job.background) this.status("uploading " + job.piece.tracks.length + " track(s)...");
    this.sendPaced(job, job.up.messages, function () {
      self.awaitUploaded(job);
    });
  };

  /** After /upload/end: sent again after 1 s without an answer, 5 tries in all (the protocol's rule). */
  Device.prototype.awaitUploaded = function (job) {
    job.endTries += 1;
    var resends = !!this.dialect.resend;
    this.arm(resends ? this.timeouts.uploadEnd : this.timeouts.reply, function () {
      if (resends && job.endTries < 5) {
        this.send(job.up.end);
        return this.awaitUploaded(job);
      }
      this.fail("timed out: the server did not confirm the upload");
    });
  };

  /** Protocol 2 cancels a job whose client is silent for 30 s: /status every few seconds. */
  Device.prototype.heartbeat = function (job) {
    var self = this;
    if (!this.dialect.status) return;
    function beat() {
      self.beat = null;
      if (self.job !== job) return;
      self.send(self.dialect.status(self.ctx, job.id));
      self.beat = self.env.setTimer(beat, every);
    }
    var every = this.timeouts.heartbeat || this.dialect.HEARTBEAT_MS;
    this.beat = this.env.setTimer(beat, every);
  };
}

exports.install = install;
