/*
 * Which protocol to speak. /ping and its /pong are the same in every version (the pong's first
 * argument is the server's protocol), so the device pings first and then speaks the dialect
 * the server named. Protocol 2 (mg_protocol2.js, docs/osc-protocol.md) is the only one the
 * server speaks now; a next version is another file in this table. Everything version-specific
 * is in the dialect files; the device deals in plain reply objects with times in quarters.
 */

var dialects = { 2: require("mg_protocol2") };

function ping(port) {
  return ["/midigen/ping", port];
}

/** The dialect for a server's protocol version, or null when this device does not speak it. */
function dialect(version) {
  return dialects[version] || null;
}

function supported() {
  return Object.keys(dialects).join(" and ");
}

/**
 * A reply as {kind, job, ...}: "pong" (any version), else what the dialect makes of it;
 * {kind: "ignored"} for addresses the device does not use, {kind: "malformed", why} when the
 * arguments do not fit (shown in the status line, never thrown).
 */
function parseReply(d, address, args) {
  try {
    if (address === "/midigen/pong") {
      if (args.length < 4) throw new Error("expected at least 4 arguments, got " + args.length);
      return { kind: "pong", protocol: args[0], version: args[1], model: args[2], device: args[3] };
    }
    var r = d ? d.parse(address, args) : null;
    return r || { kind: "ignored", address: address };
  } catch (e) {
    return { kind: "malformed", why: address + ": " + e.message };
  }
}

exports.ping = ping;
exports.dialect = dialect;
exports.supported = supported;
exports.parseReply = parseReply;
