/*
 * From what the LOM shows to the piece the server is sent: the detail clip is track 1, the
 * context clips follow, all on one timeline whose bar 1 is the detail clip's 1.1.1 (clip time
 * 0), in the detail clip's signature. Also the bar selection (default: the clip's loop) and the
 * instrument convention for tracks.
 */

var bars = require("mg_bars");
var notes = require("mg_notes");

var EPS = 1e-6;
var MAX_TRACKS = 32;

/**
 * The instrument convention (documented in max4live/README.md): a track holding a Drum Rack
 * (class DrumGroupDevice), or named like a kit (drum, perc, kit, beat), is drums; otherwise a
 * "[p33]" tag in the track name gives the GM program (as in the REAPER scripts), else the first
 * keyword of the name found in this table, else 0 (piano).
 */
var PROGRAM_WORDS = [
  ["bass", 33], ["piano", 0], ["keys", 4], ["rhodes", 4], ["organ", 19], ["guitar", 25],
  ["string", 48], ["violin", 40], ["cello", 42], ["choir", 52], ["voice", 52], ["vox", 52],
  ["brass", 61], ["trumpet", 56], ["sax", 65], ["flute", 73], ["lead", 80], ["pad", 88],
  ["synth", 80], ["bell", 14], ["marimba", 12], ["harp", 46],
];

function instrumentOf(track) {
  var name = String(track.name || "").toLowerCase();
  if (track.devices.indexOf("DrumGroupDevice") >= 0 || /drum|perc|kit|beat/.test(name)) {
    return { program: 0, drum: true };
  }
  var tag = /\[p(\d{1,3})\]/.exec(name);
  if (tag && Number(tag[1]) <= 127) return { program: Number(tag[1]), drum: false };
  for (var i = 0; i < PROGRAM_WORDS.length; i++) {
    if (name.indexOf(PROGRAM_WORDS[i][0]) >= 0) return { program: PROGRAM_WORDS[i][1], drum: false };
  }
  return { program: 0, drum: false };
}

/**
 * The notes a clip plays from its first played beat (offset 0) up to `until` (offset), in
 * played time: a looped clip plays start marker..loop end once and then loop start..loop end
 * over and over; an unlooped one plays start marker..end marker. An arrangement clip stops at
 * its end in the song.
 */
function playedNotes(clip, clipNotes, until) {
  var limit = Math.min(until, clip.endTime - clip.startTime);
  var out = [];
  function take(from, to, shift) {
    // Clip times [from, to) played at offset clip time + shift.
    for (var i = 0; i < clipNotes.length; i++) {
      var n = clipNotes[i];
      if (n.start_time < from - EPS || n.start_time >= to - EPS) continue;
      var at = n.start_time + shift;
      if (at >= limit - EPS) continue;
      var copy = {};
      for (var f in n) copy[f] = n[f];
      copy.start_time = at;
      copy.duration = Math.min(n.duration, to - n.start_time, limit - at);
      out.push(copy);
    }
  }
  if (!clip.looping) {
    take(clip.startMarker, clip.endMarker, -clip.startMarker);
    return out;
  }
  var length = clip.loopEnd - clip.loopStart;
  if (!(length > EPS)) return out;
  take(clip.startMarker, clip.loopEnd, -clip.startMarker);
  for (var offset = clip.loopEnd - clip.startMarker; offset < limit - EPS; offset += length) {
    take(clip.loopStart, clip.loopEnd, offset - clip.loopStart);
  }
  return out;
}

/** The bars a generate works on: {first, last} from the UI (0 = the clip's loop). */
function selectedBars(meters, clip, fromBar, toBar) {
  var loop = clip.looping ? bars.barsCovering(meters, clip.loopStart, clip.loopEnd) : bars.barsCovering(meters, clip.startMarker, clip.endMarker);
  var first = fromBar > 0 ? fromBar : loop.first;
  var last = toBar > 0 ? toBar : loop.last;
  if (last < first) throw new Error("bar range " + first + "-" + last + " is empty: the last bar comes before the first");
  return { first: first, last: last };
}

/**
 * The piece to upload: {bars, tempo, meters, tracks}, track 1 the detail clip. `end` (piece
 * time) is where the uploaded piece stops: context and notes after it are left out.
 */
function buildPiece(selection, meters, pieceBars) {
  var end = bars.barStart(meters, pieceBars + 1);
  var target = selection.target;
  var tracks = [];
  var inst = instrumentOf(target.track);
  tracks.push({ program: inst.program, drum: inst.drum, name: target.track.name, notes: notes.fromLive(target.notes, 0, end), liveTrack: target.track.index });
  var byTrack = {};
  selection.context.forEach(function (c) {
    // A context note at played offset u sounds at song time c.startTime + u, which is detail
    // clip time startMarker + (song time - detail clip's startTime).
    var shift = target.clip.startMarker + c.clip.startTime - target.clip.startTime;
    var played = playedNotes(c.clip, c.notes, end - shift);
    var wire = notes.fromLive(played, -shift, end);
    var key = c.track.index;
    if (!byTrack[key]) {
      var ci = instrumentOf(c.track);
      byTrack[key] = { program: ci.program, drum: ci.drum, name: c.track.name, notes: [], liveTrack: key };
      tracks.push(byTrack[key]);
    }
    byTrack[key].notes = byTrack[key].notes.concat(wire);
  });
  return {
    bars: pieceBars,
    tempo: Math.min(400, Math.max(20, selection.tempo)),
    meters: meters,
    tracks: tracks.slice(0, MAX_TRACKS),
  };
}

/** The detail clip's meter list (Live gives one signature per clip). */
function clipMeters(selection) {
  var c = selection.target.clip;
  var m = [{ bar: 1, numerator: c.numerator || selection.songNumerator, denominator: c.denominator || selection.songDenominator }];
  bars.checkMeters(m);
  return m;
}

exports.instrumentOf = instrumentOf;
exports.playedNotes = playedNotes;
exports.selectedBars = selectedBars;
exports.buildPiece = buildPiece;
exports.clipMeters = clipMeters;
