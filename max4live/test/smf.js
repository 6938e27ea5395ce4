"use strict";
/*
 * A small Standard MIDI File reader for the tests only (the device never reads files: Live
 * gives it notes). Enough to turn the project's real prompts (../shared/midi) into a fake Live
 * set: per track its name, first program, whether it plays on channel 10, and its notes in
 * quarters; the file's first tempo and time signature.
 */

const fs = require("fs");

function readVarLen(buf, at) {
  let value = 0;
  for (;;) {
    const b = buf[at++];
    value = (value << 7) | (b & 0x7f);
    if (!(b & 0x80)) return [value, at];
  }
}

function readSmf(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString("ascii", 0, 4) !== "MThd") throw new Error(file + ": not a MIDI file");
  const division = buf.readUInt16BE(12);
  if (division & 0x8000) throw new Error(file + ": SMPTE time is not handled");
  let at = 8 + buf.readUInt32BE(4);
  const tracks = [];
  let tempo = 120;
  let meter = [4, 4];
  while (at + 8 <= buf.length) {
    const size = buf.readUInt32BE(at + 4);
    const end = at + 8 + size;
    if (buf.toString("ascii", at, at + 4) === "MTrk") {
      const track = { name: "", program: null, drum: false, notes: [] };
      const open = {};
      let p = at + 8;
      let tick = 0;
      let status = 0;
      while (p < end) {
        let delta;
        [delta, p] = readVarLen(buf, p);
        tick += delta;
        let b = buf[p];
        if (b === 0xff) {
          const type = buf[p + 1];
          let len;
          [len, p] = readVarLen(buf, p + 2);
          const data = buf.subarray(p, p + len);
          if (type === 0x03 && !track.name) track.name = data.toString("latin1");
          if (type === 0x51 && tracks.length <= 1) tempo = 60000000 / ((data[0] << 16) | (data[1] << 8) | data[2]);
          if (type === 0x58 && tick === 0) meter = [data[0], 2 ** data[1]];
          p += len;
          continue;
        }
        if (b === 0xf0 || b === 0xf7) {
          let len;
          [len, p] = readVarLen(buf, p + 1);
          p += len;
          continue;
        }
        if (b & 0x80) {
          status = b;
          p += 1;
        }
        const kind = status & 0xf0;
        const channel = status & 0x0f;
        const d1 = buf[p];
        const d2 = buf[p + 1];
        p += kind === 0xc0 || kind === 0xd0 ? 1 : 2;
        if (kind === 0xc0 && track.program === null) track.program = d1;
        const key = channel + ":" + d1;
        if (kind === 0x90 && d2 > 0) {
          if (channel === 9) track.drum = true;
          open[key] = { pitch: d1, start: tick, velocity: d2 };
        } else if ((kind === 0x80 || (kind === 0x90 && d2 === 0)) && open[key]) {
          const n = open[key];
          delete open[key];
          track.notes.push({ pitch: n.pitch, start_time: n.start / division, duration: Math.max(tick - n.start, 1) / division, velocity: n.velocity });
        }
      }
      if (track.notes.length) tracks.push(track);
    }
    at = end;
  }
  return { tempo, meter, tracks };
}

module.exports = { readSmf };
