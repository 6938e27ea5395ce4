"use strict";
/* A small Live set the device tests share: a 4-bar keys clip (the detail clip) in scene 1, a
 * 1-bar looping bass clip and a drum rack clip beside it, an audio track, in 4/4 at 100 BPM. */

const { FakeLive } = require("./fake_live");

const KEYS = "live_set tracks 0 clip_slots 0 clip";

function keysNotes() {
  const out = [];
  for (let bar = 0; bar < 4; bar++) {
    out.push({ pitch: 48 + bar, start_time: bar * 4, duration: 2, velocity: 80 });
    out.push({ pitch: 55 + bar, start_time: bar * 4 + 2, duration: 1.5, velocity: 70 });
  }
  return out;
}

function scene(opts = {}) {
  return new FakeLive({
    tempo: 100,
    numerator: opts.numerator || 4,
    denominator: opts.denominator || 4,
    major: opts.major || 12,
    tracks: [
      { name: "Keys", slots: [{ loop_end: opts.loopEnd || 16, numerator: opts.numerator, denominator: opts.denominator, notes: opts.notes || keysNotes() }] },
      { name: "Bass", slots: [{ loop_end: 4, notes: [{ pitch: 36, start_time: 0, duration: 1 }, { pitch: 43, start_time: 2, duration: 1 }] }] },
      { name: "Beat", devices: ["DrumGroupDevice"], slots: [{ loop_end: 4, notes: [{ pitch: 36, start_time: 0, duration: 0.25 }, { pitch: 38, start_time: 1, duration: 0.25 }] }] },
      { name: "Vox", audio: true, slots: [null] },
    ],
    detail: opts.detail === undefined ? KEYS : opts.detail,
  });
}

module.exports = { scene, keysNotes, KEYS };
