"use strict";
/*
 * The [js] glue (js/midigen.js) in a stand-in for Max's JavaScript environment: the globals Max
 * gives a [js] (outlet, Task, LiveAPI, Global, messagename, arrayfromargs, post) around the
 * same source file, so the wiring between the patcher and the device logic is tested too.
 * Also checks that the device's modules keep to what Max's ES5 engine understands.
 */

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const vm = require("vm");
const { scene } = require("./scene");

const JS = path.join(__dirname, "..", "js");

/** One [js midigen.js] instance; `shared` plays Max's process-wide Global objects. */
function instance(live, shared, pattrValue) {
  const out = [];
  const observers = []; // callbacks given to LiveAPI, to play Live's notifications
  const pattr = { value: pattrValue || "" };
  const ctx = {
    outlet: (n, ...args) => {
      out.push([n, ...args]);
      if (n === 3 && args[0] === "bang") ctx.clientid(pattr.value); // [pattr] answers a bang
      if (n === 3 && args[0] === "set") pattr.value = args[1];
    },
    Task: function Task(fn) {
      this.schedule = (ms) => (this.h = setTimeout(fn, ms));
      this.cancel = () => clearTimeout(this.h);
    },
    LiveAPI: function LiveAPI(a, b) {
      if (typeof a === "function") observers.push(a);
      return new live.LiveAPI(a, b);
    },
    Global: function Global(name) {
      return (shared[name] = shared[name] || {});
    },
    arrayfromargs: (args) => Array.prototype.slice.call(args),
    post: () => {},
    require: (name) => require(path.join(JS, name + ".js")),
  };
  vm.createContext(ctx);
  vm.runInContext(fs.readFileSync(path.join(JS, "midigen.js"), "utf8"), ctx, { filename: "midigen.js" });
  return { ctx, out, pattr, observers };
}

function message(inst, address, ...args) {
  inst.ctx.messagename = address;
  inst.ctx.anything(...args);
}

test("two devices in one set claim different reply ports and keep their settings from load", () => {
  const live = scene();
  const shared = {};
  const a = instance(live, shared);
  const b = instance(live, shared);
  a.ctx.set("variations", 3); // a live.* control restoring its value before init
  a.ctx.init();
  b.ctx.init();
  assert.deepEqual(a.out.find((o) => o[0] === 2), [2, "port", 9001]);
  assert.deepEqual(b.out.find((o) => o[0] === 2), [2, "port", 9002]);
  assert.equal(a.ctx.device.settings.variations, 3);
  assert.deepEqual(a.out.find((o) => o[0] === 0), [0, ["/midigen/ping", 9001]]);
  a.ctx.device.disarm();
  b.ctx.device.disarm();
  a.ctx.notifydeleted();
  const c = instance(live, shared);
  c.ctx.init();
  c.ctx.device.disarm();
  assert.deepEqual(c.out.find((o) => o[0] === 2), [2, "port", 9001], "a deleted device's port is free again");
});

test("the client id is made once and then kept by [pattr clientid]", () => {
  const live = scene();
  const first = instance(live, {});
  first.ctx.init();
  first.ctx.device.disarm();
  assert.match(first.pattr.value, /^mg[0-9a-f]{16}$/);
  const reloaded = instance(live, {}, first.pattr.value);
  reloaded.ctx.init();
  reloaded.ctx.device.disarm();
  assert.equal(reloaded.ctx.device.ctx.clientId, first.pattr.value);
});

test("the Server port control retargets [udpsend] and the not-running hint", async () => {
  const inst = instance(scene(), {});
  inst.ctx.set("serverPort", 9100);
  assert.deepEqual(inst.out.at(-1), [0, "port", 9100]);
  inst.ctx.init();
  inst.ctx.device.timeouts = Object.assign({}, inst.ctx.device.timeouts, { pong: 20 });
  inst.ctx.device.ping();
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(inst.out.at(-1), [1, "set", "server not running: start `midigen-server --port 9100`"]);
});

test("replies from [udpreceive] reach the device; status goes to outlet 1", () => {
  const live = scene();
  const inst = instance(live, {});
  inst.ctx.init();
  message(inst, "/midigen/pong", 2, "0.1.0", "midigen-base", "cpu", 8, 8, 0, "");
  const hello = inst.out.filter((o) => o[0] === 0).map((o) => o[1]).find((m) => m[0] === "/midigen/hello");
  assert.deepEqual(hello.slice(0, 3), ["/midigen/hello", 2, 9001]);
  message(inst, "/midigen/welcome", 99, 2, "0.1.0", "midigen-base", "cpu", 8, 8, 0, "");
  assert.deepEqual(inst.out.at(-1), [1, "set", "connected: midigen-base on cpu (protocol 2)"]);
  message(inst, "/other/thing", 1);
  inst.ctx.variation(2);
  assert.deepEqual(inst.out.at(-1), [1, "set", "no variations yet: press generate"]);
});

test("a playing_position notification reaches the device only after the notification returns", async () => {
  const inst = instance(scene(), {});
  inst.ctx.init();
  inst.ctx.device.disarm();
  const seen = [];
  inst.ctx.device.position = (pos) => seen.push(pos);
  for (const notify of inst.observers) notify(["playing_position", 4.5]);
  assert.deepEqual(seen, [], "no set changes from inside a notification");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, [4.5]);
});

/** Source text with comments and string literals blanked, for the ES5 checks below. */
function code(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/\/\/[^\n]*/g, " ")
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''");
}

test("the device's modules are ES5 with CommonJS exports, as Max's [js] needs", () => {
  const forbidden = [
    [/\b(let|const|class)\s/, "ES6 declarations"],
    [/=>/, "arrow functions"],
    [/`/, "template literals"],
    [/\.\.\.\w/, "spread"],
    [/\bmodule\.exports\b/, "module.exports (Max has only exports.*)"],
    [/\.(includes|find|findIndex|startsWith|endsWith|padStart|at)\(/, "ES2015+ methods"],
    [/\b(Object\.assign|Array\.from|Number\.isInteger|Promise|Map|Set|Symbol)\b/, "ES2015+ globals"],
  ];
  for (const file of fs.readdirSync(JS).filter((f) => f.endsWith(".js"))) {
    const text = code(fs.readFileSync(path.join(JS, file), "utf8"));
    for (const [re, what] of forbidden) assert.doesNotMatch(text, re, file + " uses " + what);
    if (file !== "midigen.js") assert.match(text, /\bexports\.\w+ = /, file + " exports nothing");
    assert.doesNotMatch(text, /require\((?!""\))/, file + " requires a computed name (the build cannot freeze it)");
  }
});
