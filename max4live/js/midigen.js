/*
 * The device's [js] object: Max glue only. It wires Max (inlets, outlets, Task timers,
 * LiveAPI, the Global port registry) to the Device in mg_device.js, which holds the logic and
 * is what the Node tests drive. Runs in Max's [js] (ECMAScript 5 + Max's CommonJS require).
 *
 * Inlet 0 takes:  init                     (from [live.thisdevice], once Live is ready)
 *                 set <setting> <value>    (from the live.* controls; serverPort goes to
 *                                           [udpsend] as "port N")
 *                 generate | cancel | variation <k>
 *                 /midigen/... <args>      (from [udpreceive])
 *                 clientid <id>            (from [pattr clientid], asked for at init)
 * Outlet 0: OSC messages for [udpsend]; outlet 1: "set <text>" for the status line;
 * outlet 2: "port <n>" for [udpreceive]; outlet 3: to [pattr clientid], which keeps protocol
 * 2's client id with the Live set (a stored-only blob parameter).
 */

autowatch = 0;
inlets = 1;
outlets = 4;

var mgDevice = require("mg_device");
var mgPorts = require("mg_ports");
var mgLive = require("mg_live");
var mgProtocol2 = require("mg_protocol2");

var serverPort = 9000; // the Server port control; [udpsend 127.0.0.1 9000] until it speaks

var device = null;
var owner = null;
var registry = new Global("midigen_reply_ports");
var viewObserver = null;
var positionObserver = null;
var storedClientId = "";
// live.* controls send their saved values when the set loads, before [live.thisdevice] says
// the device is ready: those settings wait here until init().
var pendingSettings = [];

/** [pattr clientid] answers the bang of init() with what the Live set saved. */
function clientid(id) {
  storedClientId = String(id);
}

/** The saved client id, or a new random one that is saved from now on. */
function clientId() {
  storedClientId = "";
  outlet(3, "bang");
  if (/^[A-Za-z][A-Za-z0-9_-]{7,63}$/.test(storedClientId)) return storedClientId;
  var id = mgProtocol2.newClientId(Math.random);
  outlet(3, "set", id);
  return id;
}

function makeEnv(port) {
  return {
    LiveAPI: LiveAPI,
    send: function (message) {
      outlet(0, message);
    },
    status: function (text) {
      outlet(1, "set", text);
    },
    setTimer: function (fn, ms) {
      var task = new Task(fn);
      task.schedule(ms);
      return task;
    },
    clearTimer: function (task) {
      task.cancel();
    },
    now: function () {
      return new Date().getTime();
    },
    port: port,
    firstJob: 1 + Math.floor(Math.random() * 1000000),
    clientId: clientId(),
    undo: mgLive.liveMajorVersion(LiveAPI) >= 12,
    serverPort: serverPort,
  };
}

function init() {
  if (device) return;
  // Unique to this [js] instance (a copied device may share ids with its original for a while).
  owner = "device-" + Math.floor(Math.random() * 1e12) + "-" + new Date().getTime();
  var port;
  try {
    port = mgPorts.claim(registry, owner);
  } catch (e) {
    outlet(1, "set", e.message);
    return;
  }
  outlet(2, "port", port);
  device = new mgDevice.Device(makeEnv(port));
  pendingSettings.forEach(function (s) {
    guarded(function () {
      device.set(s[0], s[1]);
    });
  });
  pendingSettings = [];
  observePlayhead();
  device.ping();
}

/**
 * playing_position of whichever clip is in the clip view, for loop mode's swaps. Live refuses
 * changes to the set from inside a notification, so the observer only notes the position and
 * a Task (run by Max's scheduler, outside the notification) hands it to the device.
 */
function observePlayhead() {
  var latest = null;
  var deliver = new Task(function () {
    if (device && latest !== null) device.position(latest);
  });
  positionObserver = new LiveAPI(function (args) {
    if (args[0] !== "playing_position") return;
    latest = Number(args[1]);
    deliver.schedule(0);
  });
  viewObserver = new LiveAPI(function () {
    positionObserver.path = "live_set view detail_clip";
    if (Number(positionObserver.id) !== 0) positionObserver.property = "playing_position";
  }, "live_set view");
  viewObserver.property = "detail_clip";
}

function guarded(fn) {
  if (!device) {
    outlet(1, "set", "the device is still loading");
    return;
  }
  try {
    fn();
  } catch (e) {
    outlet(1, "set", "device error: " + e.message);
  }
}

function set(name, value) {
  if (name === "serverPort") {
    // [udpsend] takes "port N"; the device only shows it in its hints.
    serverPort = Number(value);
    outlet(0, "port", serverPort);
    if (device) device.env.serverPort = serverPort;
    return;
  }
  if (!device) {
    pendingSettings.push([name, value]);
    return;
  }
  guarded(function () {
    device.set(name, value);
  });
}

function generate() {
  guarded(function () {
    device.generate();
  });
}

function cancel() {
  guarded(function () {
    device.cancel();
  });
}

function variation(k) {
  guarded(function () {
    device.showVariation(k);
  });
}

function anything() {
  var args = arrayfromargs(arguments);
  if (messagename.indexOf("/midigen/") !== 0) return;
  guarded(function () {
    device.receive(messagename, args);
  });
}

function notifydeleted() {
  if (owner) mgPorts.release(registry, owner);
  if (device && device.job) device.cancel();
  if (device) device.leave();
}
