/*
 * Reply ports: every instance of the device listens on its own UDP port, because the server
 * tells clients apart by host and reply port. All devices of a Live set run in one Max, which
 * shares one registry between [js] instances (Max's Global object); an instance claims the
 * lowest free port of the range there and gives it back when it is deleted. So two devices in
 * one set never collide; the range (9001-9064) only has to be free of other programs.
 */

var FIRST = 9001;
var COUNT = 64;

/**
 * Claim a port for `owner` (a string unique to the instance) in `registry`, the shared object:
 * the lowest unclaimed one. Claims are flat properties ("p9001": owner) because Max's Global
 * shares plain values between [js] instances more reliably than nested objects.
 */
function claim(registry, owner) {
  var i;
  for (i = 0; i < COUNT; i++) {
    if (registry["p" + (FIRST + i)] === owner) return FIRST + i;
  }
  for (i = 0; i < COUNT; i++) {
    var port = FIRST + i;
    if (!registry["p" + port]) {
      registry["p" + port] = owner;
      return port;
    }
  }
  throw new Error("all reply ports " + FIRST + "-" + (FIRST + COUNT - 1) + " are taken by other midigen devices");
}

function release(registry, owner) {
  for (var i = 0; i < COUNT; i++) {
    if (registry["p" + (FIRST + i)] === owner) registry["p" + (FIRST + i)] = 0;
  }
}

exports.FIRST = FIRST;
exports.COUNT = COUNT;
exports.claim = claim;
exports.release = release;
