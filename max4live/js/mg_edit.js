/*
 * The project's rule for applying returned bars to a clip (docs/language.md, "Writing results
 * back", which `midigen infill` applies to files and the REAPER scripts to items): the notes
 * whose onset lies in a selected bar are replaced; a kept note that starts before the selection
 * and still sounds when a new note of its pitch starts is shortened to end there; a new note
 * that would still sound when a kept note of its pitch starts after the selection ends there.
 *
 * A ClipEdit follows one selection of one clip: which kept notes the bars written so far have
 * shortened (per bar, so a bar written again — a variation flip, a loop swap — takes its
 * shortening back), and what to send so the clip matches.
 */

var EPS = 1e-6;

/** original: the clip's notes before the job (with note_id); the selection in clip time. */
function ClipEdit(original, selStart, selEnd) {
  this.before = original.filter(function (n) {
    return n.start_time < selStart - EPS;
  });
  this.after = original.filter(function (n) {
    return n.start_time >= selEnd - EPS;
  });
  this.current = {}; // note_id -> duration the kept note has in the clip now
  var self = this;
  this.before.forEach(function (n) {
    self.current[n.note_id] = n.duration;
  });
  this.cuts = {}; // bar -> {note_id: where a new note of that bar cuts the kept note}
}

/**
 * The new notes of `bar` (clip time), trimmed where a later kept note of their pitch starts;
 * records where they cut earlier kept notes. Returns the notes to add.
 */
ClipEdit.prototype.place = function (bar, newNotes) {
  var self = this;
  var cuts = {};
  var out = newNotes.map(function (n) {
    var end = n.start_time + n.duration;
    self.after.forEach(function (k) {
      if (k.pitch === n.pitch && k.start_time > n.start_time + EPS && k.start_time < end - EPS) end = k.start_time;
    });
    self.before.forEach(function (k) {
      var sounding = k.start_time < n.start_time - EPS && k.start_time + k.duration > n.start_time + EPS;
      if (k.pitch === n.pitch && sounding) {
        var at = n.start_time - k.start_time;
        if (cuts[k.note_id] === undefined || at < cuts[k.note_id]) cuts[k.note_id] = at;
      }
    });
    var copy = {};
    for (var f in n) copy[f] = n[f];
    copy.duration = end - n.start_time;
    return copy;
  });
  this.cuts[bar] = cuts;
  return out;
};

/** Forgets what a bar cut (its notes are being replaced by the originals again). */
ClipEdit.prototype.unplace = function (bar) {
  delete this.cuts[bar];
};

/**
 * The kept notes whose duration must change for the clip to match the bars placed so far (full
 * note dictionaries with note_id, for apply_note_modifications); [] when none.
 */
ClipEdit.prototype.changes = function () {
  var self = this;
  var out = [];
  this.before.forEach(function (k) {
    var want = k.duration;
    for (var bar in self.cuts) {
      var at = self.cuts[bar][k.note_id];
      if (at !== undefined && at < want) want = at;
    }
    if (Math.abs(want - self.current[k.note_id]) > EPS) {
      var note = {};
      for (var f in k) note[f] = k[f];
      note.duration = want;
      out.push(note);
      self.current[k.note_id] = want;
    }
  });
  return out;
};

exports.ClipEdit = ClipEdit;
