"use strict";
/*
 * What the patcher's [udpsend 127.0.0.1 <port>] and [udpreceive <reply port>] do, for the Node
 * tests: real UDP on loopback, OSC through test/osc.js, replies handed to Device.receive as
 * [udpreceive] hands them to [js] (address as the message name, then the arguments). Also
 * starts a real midigen-server on a free port and stops it by its pid.
 */

const dgram = require("dgram");
const path = require("path");
const { spawn } = require("child_process");
const osc = require("./osc");

const REPO = path.resolve(__dirname, "..", "..");
const SERVER_BIN = process.env.MIDIGEN_SERVER || path.join(REPO, ".venv", "bin", "midigen-server");

class UdpBridge {
  /** Binds a reply port chosen by the OS; `serverPort` is where messages go. */
  static async open(serverPort) {
    const socket = dgram.createSocket("udp4");
    await new Promise((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "127.0.0.1", resolve);
    });
    return new UdpBridge(socket, dgram.createSocket("udp4"), serverPort);
  }

  /**
   * Two sockets, as in the patcher: [udpsend] sends from a port of its own (it cannot
   * receive), [udpreceive] listens on the reply port. So the device never sees a reply that
   * goes back to a datagram's source port.
   */
  constructor(socket, sender, serverPort) {
    this.socket = socket;
    this.sender = sender;
    this.serverPort = serverPort;
    this.port = socket.address().port;
    this.sent = [];
    this.received = [];
    this.target = null; // the Device replies go to
    this.drop = null; // optional (address, args) => true to lose a reply, as UDP may
    socket.on("message", (buf) => {
      for (const m of osc.decode(buf)) {
        if (this.drop && this.drop(m.address, m.args)) continue;
        this.received.push(m);
        if (this.target) this.target.receive(m.address, m.args);
      }
    });
  }

  send(message) {
    const [address, ...args] = message;
    this.sent.push(message);
    this.pending = (this.pending || 0) + 1;
    this.sender.send(osc.encode(address, args), this.serverPort, "127.0.0.1", () => {
      this.pending -= 1;
    });
  }

  /** Closes both sockets once every datagram sent has left (a last /cancel must not be lost). */
  async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      await waitFor(() => !this.pending, 2000, "the last datagrams to leave");
    } finally {
      this.socket.close();
      this.sender.close();
    }
  }
}

/** A midigen-server on a free port (--port 0; the port is read from its startup line). */
async function startServer(timeoutMs = 90000) {
  const env = Object.assign({}, process.env);
  delete env.MIDIGEN_MODEL;
  const proc = spawn(SERVER_BIN, ["--port", "0", "--device", "cpu"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stderr.on("data", (d) => (err += d));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("midigen-server did not start in time: " + err)), timeoutMs);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /on udp [\d.]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error("midigen-server exited with " + code + ": " + err));
    });
  });
  return {
    port,
    pid: proc.pid,
    stop() {
      return new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once("exit", resolve);
        process.kill(proc.pid, "SIGTERM");
      });
    },
  };
}

/** A free UDP port nobody listens on (bound, read, closed): a server that is not running. */
async function deadPort() {
  const s = dgram.createSocket("udp4");
  await new Promise((resolve) => s.bind(0, "127.0.0.1", resolve));
  const port = s.address().port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** The env a Device runs in under Node: timers, the fake Live, the bridge. */
function nodeEnv(live, bridge, overrides = {}) {
  const statuses = [];
  const env = Object.assign({
    LiveAPI: live.LiveAPI,
    send: (m) => bridge.send(m),
    status: (t) => statuses.push(t),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (h) => clearTimeout(h),
    now: () => Date.now(),
    port: bridge.port,
    undo: live.major >= 12,
    serverPort: 9000,
  }, overrides);
  env.statuses = statuses;
  return env;
}

/** Resolves when `predicate()` holds, polling; rejects after `ms`. */
function waitFor(predicate, ms, what) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > ms) return reject(new Error("timed out waiting for " + what));
      setTimeout(tick, 10);
    };
    tick();
  });
}

module.exports = { UdpBridge, startServer, deadPort, nodeEnv, waitFor, SERVER_BIN };
