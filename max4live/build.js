#!/usr/bin/env node
/*
 * Builds max4live/midigen.amxd from the readable sources beside it: the patcher JSON
 * (midigen.maxpat) and the JavaScript files in js/. The .amxd is a build output checked in so
 * users can drop it into Live; the sources are what people edit and diff.
 *
 *   node max4live/build.js            write midigen.amxd
 *   node max4live/build.js --check    exit 1 when midigen.amxd is not what the sources build
 *   node max4live/build.js --out F    write the device to F instead
 *
 * The container layout is written down in max4live/README.md ("The .amxd container"). In short:
 * little-endian RIFF-like chunks `ampf` (device type), `meta`, `ptch`; our `ptch` holds a
 * frozen-device archive (`mx@c`, big-endian) so the JavaScript travels inside the one file.
 * The build is byte-for-byte reproducible: fixed file dates, sources in a fixed order.
 */
"use strict";

var fs = require("fs");
var path = require("path");

var HERE = __dirname;
var DEVICE_NAME = "midigen.amxd";
var PATCHER = path.join(HERE, "midigen.maxpat");
var JS_DIR = path.join(HERE, "js");
// "mmmm" marks a MIDI effect ("aaaa" audio effect, "iiii" instrument).
var DEVICE_TYPE = "mmmm";
// Observed in devices Max saves: 1 for a plain device, 7 for a frozen one (ours is frozen).
var META_FROZEN = 7;
// Every embedded file gets this modification date, so rebuilding changes no byte.
// Seconds since 1904-01-01 (the HFS epoch Max stores); this is 2026-01-01 00:00 UTC.
var FIXED_HFS_DATE = 2082844800 + 1767225600;
// dire flag of the device's own patcher entry (as Max writes it); dependencies get 0.
var FLAG_DEVICE = 0x11;

function u32le(n) {
  var b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

function u32be(n) {
  var b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** A top-level chunk: 4-char id, little-endian size of the data, the data. */
function leChunk(id, data) {
  return Buffer.concat([Buffer.from(id, "ascii"), u32le(data.length), data]);
}

/** An archive field: 4-char id, big-endian size counting its own 8-byte header, the data. */
function beField(id, data) {
  return Buffer.concat([Buffer.from(id, "ascii"), u32be(data.length + 8), data]);
}

/** File names are NUL-terminated and padded with NULs to a multiple of 4 bytes. */
function paddedName(name) {
  var raw = Buffer.from(name, "ascii");
  var size = (Math.floor(raw.length / 4) + 1) * 4;
  var out = Buffer.alloc(size);
  raw.copy(out);
  return out;
}

function directoryEntry(file, offset) {
  return beField(
    "dire",
    Buffer.concat([
      beField("type", Buffer.from(file.type, "ascii")),
      beField("fnam", paddedName(file.name)),
      beField("sz32", u32be(file.data.length)),
      beField("of32", u32be(offset)),
      beField("vers", u32be(0)),
      beField("flag", u32be(file.flag)),
      beField("mdat", u32be(FIXED_HFS_DATE)),
    ])
  );
}

/**
 * The frozen archive: a 16-byte header ("mx@c", header size, 64-bit offset of the directory),
 * the files back to back, then the directory ("dlst" of "dire" entries). Offsets count from
 * the start of "mx@c".
 */
function frozenArchive(files) {
  var HEADER = 16;
  var offset = HEADER;
  var entries = [];
  files.forEach(function (file) {
    entries.push(directoryEntry(file, offset));
    offset += file.data.length;
  });
  var header = Buffer.concat([Buffer.from("mx@c", "ascii"), u32be(HEADER), u32be(0), u32be(offset)]);
  var dlst = beField("dlst", Buffer.concat(entries));
  return Buffer.concat([header].concat(files.map(function (f) { return f.data; })).concat([dlst]));
}

/** The JavaScript files the patcher names, in the order a reader meets them. */
function referencedScripts(patcher) {
  var names = [];
  function walk(p) {
    (p.boxes || []).forEach(function (b) {
      var box = b.box;
      var text = box.text || "";
      var m = /^(js|v8)\s+(\S+\.js)\b/.exec(text);
      if (m && names.indexOf(m[2]) < 0) names.push(m[2]);
      if (box.patcher) walk(box.patcher);
    });
  }
  walk(patcher.patcher);
  return names;
}

/** Module names a script loads with require("name"): they must be frozen in too. */
function requiredModules(source) {
  var re = /require\("([A-Za-z0-9_]+)"\)/g;
  var out = [];
  var m;
  while ((m = re.exec(source)) !== null) out.push(m[1] + ".js");
  return out;
}

function collectScripts(patcher) {
  var queue = referencedScripts(patcher);
  var seen = [];
  while (queue.length) {
    var name = queue.shift();
    if (seen.indexOf(name) >= 0) continue;
    var file = path.join(JS_DIR, name);
    if (!fs.existsSync(file)) throw new Error("the patcher or a script needs js/" + name + ", which is missing");
    seen.push(name);
    queue = queue.concat(requiredModules(fs.readFileSync(file, "utf8")));
  }
  return seen;
}

function build() {
  var patcherText = fs.readFileSync(PATCHER, "utf8");
  var patcher;
  try {
    patcher = JSON.parse(patcherText);
  } catch (e) {
    throw new Error("midigen.maxpat is not valid JSON: " + e.message);
  }
  var scripts = collectScripts(patcher);
  // Max freezes what the patcher's dependency list names: it must be exactly the scripts.
  var listed = (patcher.patcher.dependency_cache || []).map(function (d) { return d.name; });
  if (listed.slice().sort().join() !== scripts.slice().sort().join()) {
    throw new Error("midigen.maxpat's dependency_cache lists [" + listed.sort().join(", ") + "] but the scripts are [" + scripts.sort().join(", ") + "]");
  }
  // Max stores the device patcher NUL-terminated.
  var files = [{ name: DEVICE_NAME, type: "JSON", flag: FLAG_DEVICE, data: Buffer.concat([Buffer.from(patcherText, "utf8"), Buffer.from([0])]) }];
  scripts.forEach(function (name) {
    files.push({ name: name, type: "TEXT", flag: 0, data: fs.readFileSync(path.join(JS_DIR, name)) });
  });
  return Buffer.concat([
    leChunk("ampf", Buffer.from(DEVICE_TYPE, "ascii")),
    leChunk("meta", u32le(META_FROZEN)),
    leChunk("ptch", frozenArchive(files)),
  ]);
}

function main(argv) {
  var at = argv.indexOf("--out");
  var out = at >= 0 ? path.resolve(argv[at + 1] || "") : path.join(HERE, DEVICE_NAME);
  var bytes;
  try {
    bytes = build();
  } catch (e) {
    process.stderr.write("build.js: " + e.message + "\n");
    return 2;
  }
  if (argv.indexOf("--check") >= 0) {
    var current = fs.existsSync(out) ? fs.readFileSync(out) : Buffer.alloc(0);
    if (!current.equals(bytes)) {
      process.stderr.write("build.js: " + DEVICE_NAME + " is stale: run `node max4live/build.js`\n");
      return 1;
    }
    return 0;
  }
  fs.writeFileSync(out, bytes);
  process.stdout.write("wrote " + out + " (" + bytes.length + " bytes)\n");
  return 0;
}

exports.build = build;
if (require.main === module) process.exitCode = main(process.argv.slice(2));
