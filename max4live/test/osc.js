"use strict";
/*
 * OSC 1.0 codec for the test harness only (the device itself leaves OSC to Max's [udpsend] /
 * [udpreceive]). Encoding follows what [udpsend] does with a Max message: an integral number
 * becomes an int32 ("i"), any other number a float32 ("f"), a string an OSC string ("s").
 */

function pad4(n) {
  return (n + 3) & ~3;
}

function oscString(s) {
  const raw = Buffer.from(String(s), "utf8");
  const out = Buffer.alloc(pad4(raw.length + 1));
  raw.copy(out);
  return out;
}

function encode(address, args) {
  let tags = ",";
  const parts = [];
  for (const a of args) {
    if (typeof a === "number" && Number.isInteger(a)) {
      tags += "i";
      const b = Buffer.alloc(4);
      b.writeInt32BE(a);
      parts.push(b);
    } else if (typeof a === "number") {
      tags += "f";
      const b = Buffer.alloc(4);
      b.writeFloatBE(a);
      parts.push(b);
    } else if (typeof a === "string") {
      tags += "s";
      parts.push(oscString(a));
    } else {
      throw new Error("cannot send " + typeof a + " " + a + " as OSC");
    }
  }
  return Buffer.concat([oscString(address), oscString(tags), ...parts]);
}

function readString(buf, at) {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new Error("OSC string without NUL at " + at);
  return [buf.toString("utf8", at, end), pad4(end + 1)];
}

/** One datagram -> [{address, args}] (bundles flattened, time tags ignored). */
function decode(buf) {
  if (buf.length >= 8 && buf.toString("ascii", 0, 8) === "#bundle\0") {
    const out = [];
    let at = 16;
    while (at + 4 <= buf.length) {
      const size = buf.readInt32BE(at);
      out.push(...decode(buf.subarray(at + 4, at + 4 + size)));
      at += 4 + size;
    }
    return out;
  }
  let [address, at] = readString(buf, 0);
  let tags;
  [tags, at] = readString(buf, at);
  if (tags[0] !== ",") throw new Error("OSC message without type tags: " + address);
  const args = [];
  for (const t of tags.slice(1)) {
    if (t === "i") {
      args.push(buf.readInt32BE(at));
      at += 4;
    } else if (t === "f") {
      args.push(buf.readFloatBE(at));
      at += 4;
    } else if (t === "s") {
      let s;
      [s, at] = readString(buf, at);
      args.push(s);
    } else {
      throw new Error("OSC type tag " + t + " not handled by the test codec");
    }
  }
  return [{ address, args }];
}

module.exports = { encode, decode };
