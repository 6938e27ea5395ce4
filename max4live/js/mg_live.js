/*
 * Reading and writing Live through the Live Object Model. Every LOM access of the device is in
 * this file, against a LiveAPI constructor passed in: Max's own in the device, a fake one in
 * the Node tests. LiveAPI objects may only be made after the device has loaded
 * ([live.thisdevice] bangs), which is why nothing here runs at require time.
 *
 * Times: clip time is quarters from the clip's 1.1.1 (what get_notes_extended speaks); song
 * time is quarters from the arrangement's start.
 */

var EPS = 1e-6;
// Note fields add_new_notes accepts; note_id and the read-only ones are dropped on restore.
var NOTE_FIELDS = ["pitch", "start_time", "duration", "velocity", "mute", "probability", "velocity_deviation", "release_velocity"];

function first(v) {
  return v instanceof Array ? v[0] : v;
}

function num(api, prop) {
  return Number(first(api.get(prop)));
}

function str(api, prop) {
  var v = api.get(prop);
  return v instanceof Array ? v.join(" ") : String(v);
}

function exists(api) {
  return Number(api.id) !== 0;
}

/** All notes of a clip between two clip times, as plain dictionaries (order: by start). */
function readNotes(clip, from, to) {
  // get_notes_extended(from_pitch, pitch_span, from_time, time_span): pitch first, then time.
  var text = clip.call("get_notes_extended", 0, 128, from, Math.max(to - from, EPS));
  var parsed = typeof text === "string" ? JSON.parse(text) : text;
  var list = (parsed && parsed.notes) || [];
  return list.slice().sort(function (a, b) {
    return a.start_time - b.start_time || a.pitch - b.pitch;
  });
}

/** What the device needs to know about one clip (no notes). */
function clipInfo(clip) {
  var arrangement = clip.unquotedpath.indexOf("arrangement_clips") >= 0;
  var info = {
    path: clip.unquotedpath,
    // Writes go to "id N": a path by index would move if clips are added or removed meanwhile.
    ref: "id " + clip.id,
    name: str(clip, "name"),
    looping: num(clip, "looping") === 1,
    loopStart: num(clip, "loop_start"),
    loopEnd: num(clip, "loop_end"),
    startMarker: num(clip, "start_marker"),
    endMarker: num(clip, "end_marker"),
    numerator: num(clip, "signature_numerator"),
    denominator: num(clip, "signature_denominator"),
    arrangement: arrangement,
    // Song position of the clip's first played beat; session clips count from their launch.
    startTime: arrangement ? num(clip, "start_time") : 0,
    endTime: arrangement ? num(clip, "end_time") : Infinity,
  };
  info.firstTime = Math.min(info.loopStart, info.startMarker, 0);
  info.lastTime = Math.max(info.loopEnd, info.endMarker);
  return info;
}

/** Track index and (session) scene index from a clip's path. */
function parsePath(path) {
  var m = /live_set tracks (\d+) (clip_slots (\d+) clip|arrangement_clips (\d+))/.exec(path);
  if (!m) return null;
  return { track: Number(m[1]), scene: m[3] === undefined ? -1 : Number(m[3]), arrangementIndex: m[4] === undefined ? -1 : Number(m[4]) };
}

/** A track's name and device class names, for the instrument convention. */
function trackInfo(API, index) {
  var track = new API("live_set tracks " + index);
  var devices = [];
  var count = track.getcount("devices");
  for (var d = 0; d < count; d++) devices.push(str(new API("live_set tracks " + index + " devices " + d), "class_name"));
  return { index: index, name: str(track, "name"), devices: devices, midi: num(track, "has_midi_input") === 1, muted: num(track, "mute") === 1 };
}

/**
 * The detail clip (the one in Live's clip view, session or arrangement) with its notes, its
 * track, the song's tempo and signature, and the context: the clips of the other MIDI tracks
 * playing at the same time (the same scene in session view, overlapping clips in the
 * arrangement). Throws an Error whose message is meant for the status line.
 */
function readSelection(API) {
  var song = new API("live_set");
  var clip = new API("live_set view detail_clip");
  if (!exists(clip)) throw new Error("no clip selected: double-click a MIDI clip first");
  if (num(clip, "is_midi_clip") !== 1) throw new Error("the selected clip is an audio clip: select a MIDI clip");
  var info = clipInfo(clip);
  var where = parsePath(info.path);
  if (!where) throw new Error("cannot tell which track holds the clip " + info.path);
  var target = {
    clip: info,
    track: trackInfo(API, where.track),
    notes: readNotes(clip, info.firstTime, info.lastTime),
  };
  var context = [];
  var tracks = song.getcount("tracks");
  for (var t = 0; t < tracks; t++) {
    if (t === where.track) continue;
    var ti = trackInfo(API, t);
    if (!ti.midi || ti.muted) continue; // context is what sounds with the clip
    var clips = info.arrangement ? arrangementClips(API, t, info) : sessionClip(API, t, where.scene);
    clips.forEach(function (c) {
      context.push({ track: ti, clip: c.info, notes: c.notes });
    });
  }
  return {
    tempo: num(song, "tempo"),
    songNumerator: num(song, "signature_numerator"),
    songDenominator: num(song, "signature_denominator"),
    target: target,
    context: context,
  };
}

function sessionClip(API, track, scene) {
  if (scene < 0) return [];
  var slot = new API("live_set tracks " + track + " clip_slots " + scene);
  if (!exists(slot) || num(slot, "has_clip") !== 1) return [];
  var clip = new API("live_set tracks " + track + " clip_slots " + scene + " clip");
  if (num(clip, "is_midi_clip") !== 1 || num(clip, "muted") === 1) return [];
  var info = clipInfo(clip);
  return [{ info: info, notes: readNotes(clip, info.firstTime, info.lastTime) }];
}

function arrangementClips(API, track, target) {
  var out = [];
  var from = target.startTime;
  var to = target.endTime;
  var base = "live_set tracks " + track + " arrangement_clips ";
  var count = new API("live_set tracks " + track).getcount("arrangement_clips");
  for (var i = 0; i < count; i++) {
    var clip = new API(base + i);
    if (num(clip, "is_midi_clip") !== 1 || num(clip, "muted") === 1) continue;
    var info = clipInfo(clip);
    if (info.endTime <= from + EPS || info.startTime >= to - EPS) continue;
    out.push({ info: info, notes: readNotes(clip, info.firstTime, info.lastTime) });
  }
  return out;
}

/** A note as add_new_notes takes it back (no note_id, no read-only fields). */
function restorable(note) {
  var out = {};
  NOTE_FIELDS.forEach(function (f) {
    if (note[f] !== undefined) out[f] = note[f];
  });
  return out;
}

/**
 * Writes bars into the detail clip: per bar, remove_notes_extended over the bar's span (notes
 * that start in it), then one add_new_notes with all of the bar's notes.
 */
function ClipWriter(API, path) {
  this.clip = new API(path);
  this.calls = 0;
}

ClipWriter.prototype.writeBar = function (start, end, liveNotes) {
  this.clip.call("remove_notes_extended", 0, 128, start, end - start);
  if (liveNotes.length) this.clip.call("add_new_notes", { notes: liveNotes.map(restorable) });
};

/**
 * Changes notes already in the clip (kept notes shortened by the writing rule, or given their
 * length back): apply_note_modifications with each note's note_id.
 */
ClipWriter.prototype.modify = function (notes) {
  if (!notes.length) return;
  this.clip.call("apply_note_modifications", {
    notes: notes.map(function (n) {
      var out = restorable(n);
      out.note_id = n.note_id;
      return out;
    }),
  });
};

/** Moves the clip's loop end (and end marker) out to `end` when it is shorter (continue). */
ClipWriter.prototype.extendTo = function (end) {
  if (num(this.clip, "end_marker") < end) this.clip.set("end_marker", end);
  if (num(this.clip, "looping") === 1 && num(this.clip, "loop_end") < end) this.clip.set("loop_end", end);
};

/**
 * One generate (or one variation flip) = one undo step. Song.begin_undo_step and
 * end_undo_step exist from Live 12 on; on older Live the device writes without them and
 * Live records each LOM edit as its own step (see max4live/README.md).
 */
function UndoStep(API, supported) {
  this.song = supported ? new API("live_set") : null;
  this.open = false;
}

UndoStep.prototype.begin = function () {
  if (this.open) return;
  this.open = true;
  if (this.song) this.song.call("begin_undo_step");
};

UndoStep.prototype.end = function () {
  if (!this.open) return;
  this.open = false;
  if (this.song) this.song.call("end_undo_step");
};

/** Live's major version (12 in 12.1.5), or 0 when it cannot be read. */
function liveMajorVersion(API) {
  var app = new API("live_app");
  var v = Number(first(app.call("get_major_version")));
  return isNaN(v) ? 0 : v;
}

exports.readNotes = readNotes;
exports.clipInfo = clipInfo;
exports.parsePath = parsePath;
exports.readSelection = readSelection;
exports.restorable = restorable;
exports.ClipWriter = ClipWriter;
exports.UndoStep = UndoStep;
exports.liveMajorVersion = liveMajorVersion;
