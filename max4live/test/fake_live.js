"use strict";
/*
 * A fake Live for the Node tests: a Live Object Model with a song (tempo, signature, undo
 * steps), tracks (name, devices, MIDI input), session clip slots and arrangement clips with
 * notes, the detail clip, and a LiveAPI constructor over it that behaves like Max's: get()
 * returns arrays, call() takes positional arguments (get_notes_extended answers JSON text),
 * id is 0 for a path that leads nowhere. Every call() and set() is recorded in `calls`.
 */

let nextId = 1;

function clip(props) {
  return {
    id: nextId++,
    name: props.name || "clip",
    is_midi_clip: props.audio ? 0 : 1,
    muted: props.muted ? 1 : 0,
    looping: props.looping === undefined ? 1 : props.looping,
    loop_start: props.loop_start || 0,
    loop_end: props.loop_end,
    start_marker: props.start_marker || 0,
    end_marker: props.end_marker === undefined ? props.loop_end : props.end_marker,
    signature_numerator: props.numerator || 4,
    signature_denominator: props.denominator || 4,
    start_time: props.start_time || 0,
    end_time: props.end_time === undefined ? (props.start_time || 0) + props.loop_end : props.end_time,
    notes: (props.notes || []).map((n) => Object.assign({ note_id: nextId++, velocity: 100, mute: 0, probability: 1, velocity_deviation: 0, release_velocity: 64 }, n)),
  };
}

class FakeLive {
  constructor({ tempo = 120, numerator = 4, denominator = 4, tracks = [], detail = null, major = 12 } = {}) {
    this.song = { id: nextId++, tempo, signature_numerator: numerator, signature_denominator: denominator };
    this.tracks = tracks.map((t) => ({
      id: nextId++,
      name: t.name,
      has_midi_input: t.audio ? 0 : 1,
      mute: t.mute ? 1 : 0,
      devices: (t.devices || []).map((c) => ({ id: nextId++, class_name: c })),
      slots: (t.slots || []).map((c) => ({ id: nextId++, clip: c ? clip(c) : null })),
      arrangement: (t.arrangement || []).map(clip),
    }));
    this.detail = detail; // canonical path of the detail clip, or null
    this.major = major;
    this.calls = [];
    this.undoDepth = 0;
    this.undoSteps = 0;
    const world = this;
    this.LiveAPI = function LiveAPI(a, b) {
      const path = typeof a === "function" ? b : a;
      this._world = world;
      this.path = path || "";
    };
    Object.defineProperties(this.LiveAPI.prototype, {
      path: {
        get() { return '"' + this._path + '"'; },
        set(p) { this._path = this._world.canonical(p); },
      },
      unquotedpath: { get() { return this._path; } },
      id: { get() { const o = this._world.resolve(this._path); return o ? o.id : 0; } },
      property: { set(p) { this._observed = p; }, get() { return this._observed; } },
    });
    Object.assign(this.LiveAPI.prototype, {
      get(prop) { return this._world.get(this._path, prop); },
      set(prop, value) { this._world.set(this._path, prop, value); },
      call(fn, ...args) { return this._world.call(this._path, fn, args); },
      getcount(child) { return this._world.getcount(this._path, child); },
    });
  }

  /** "live_set view detail_clip" and friends to the canonical path (ids are not modelled). */
  canonical(path) {
    path = String(path || "").trim();
    if (path === "live_set view detail_clip") return this.detail || "live_set view detail_clip";
    return path;
  }

  resolve(path) {
    if (path === "live_set") return this.song;
    const byId = /^id (\d+)$/.exec(path);
    if (byId) return this.all().find((o) => o.id === +byId[1]) || null;
    if (path === "live_app" || path === "this_device") return { id: 999 };
    let m = /^live_set tracks (\d+)$/.exec(path);
    if (m) return this.tracks[+m[1]] || null;
    m = /^live_set tracks (\d+) devices (\d+)$/.exec(path);
    if (m) return (this.tracks[+m[1]] || { devices: [] }).devices[+m[2]] || null;
    m = /^live_set tracks (\d+) clip_slots (\d+)$/.exec(path);
    if (m) return ((this.tracks[+m[1]] || { slots: [] }).slots[+m[2]]) || null;
    m = /^live_set tracks (\d+) clip_slots (\d+) clip$/.exec(path);
    if (m) {
      const slot = ((this.tracks[+m[1]] || { slots: [] }).slots[+m[2]]);
      return slot ? slot.clip : null;
    }
    m = /^live_set tracks (\d+) arrangement_clips (\d+)$/.exec(path);
    if (m) return (this.tracks[+m[1]] || { arrangement: [] }).arrangement[+m[2]] || null;
    return null;
  }

  /** Every object that has an id, for "id N" paths. */
  all() {
    const out = [this.song];
    for (const t of this.tracks) {
      out.push(t, ...t.devices, ...t.slots, ...t.arrangement);
      for (const s of t.slots) if (s.clip) out.push(s.clip);
    }
    return out;
  }

  object(path) {
    const o = this.resolve(path);
    if (!o) throw new Error("fake Live: no object at " + path);
    return o;
  }

  get(path, prop) {
    const o = this.object(path);
    if (prop === "has_clip") return [o.clip ? 1 : 0];
    if (!(prop in o)) throw new Error("fake Live: " + path + " has no property " + prop);
    return [o[prop]];
  }

  set(path, prop, value) {
    const o = this.object(path);
    this.calls.push({ path, fn: "set", args: [prop, value], undoDepth: this.undoDepth });
    o[prop] = value;
  }

  getcount(path, child) {
    const o = this.object(path);
    if (path === "live_set" && child === "tracks") return this.tracks.length;
    if (child === "devices") return o.devices.length;
    if (child === "arrangement_clips") return o.arrangement.length;
    if (child === "clip_slots") return o.slots.length;
    throw new Error("fake Live: no list " + child + " on " + path);
  }

  call(path, fn, args) {
    const o = this.object(path);
    this.calls.push({ path, fn, args, undoDepth: this.undoDepth });
    if (path === "live_app" && fn === "get_major_version") return this.major;
    if (o === this.song && (fn === "begin_undo_step" || fn === "end_undo_step")) {
      if (this.major < 12) throw new Error("fake Live " + this.major + ": Song has no " + fn);
      if (fn === "begin_undo_step") {
        this.undoDepth += 1;
        if (this.undoDepth === 1) this.undoSteps += 1;
      } else {
        if (this.undoDepth === 0) throw new Error("end_undo_step without begin_undo_step");
        this.undoDepth -= 1;
      }
      return undefined;
    }
    if (!("notes" in o)) throw new Error("fake Live: " + path + " has no function " + fn);
    if (fn === "get_notes_extended" || fn === "remove_notes_extended") {
      if (args.length !== 4 || args.some((x) => typeof x !== "number")) throw new Error(fn + " takes from_pitch pitch_span from_time time_span");
      const [fromPitch, pitchSpan, fromTime, timeSpan] = args;
      const inside = (n) => n.pitch >= fromPitch && n.pitch < fromPitch + pitchSpan && n.start_time >= fromTime && n.start_time < fromTime + timeSpan;
      if (fn === "get_notes_extended") return JSON.stringify({ notes: o.notes.filter(inside) });
      o.notes = o.notes.filter((n) => !inside(n));
      return undefined;
    }
    if (fn === "add_new_notes") {
      const dict = args[0];
      if (args.length !== 1 || !dict || !Array.isArray(dict.notes)) throw new Error("add_new_notes takes one dictionary {notes: [...]}");
      const allowed = ["pitch", "start_time", "duration", "velocity", "mute", "probability", "velocity_deviation", "release_velocity"];
      const ids = [];
      for (const n of dict.notes) {
        for (const k of Object.keys(n)) if (!allowed.includes(k)) throw new Error("add_new_notes: unknown note key " + k);
        if (!Number.isInteger(n.pitch) || n.pitch < 0 || n.pitch > 127) throw new Error("add_new_notes: bad pitch " + n.pitch);
        if (!(n.duration > 0)) throw new Error("add_new_notes: bad duration " + n.duration);
        if (!(n.start_time >= 0)) throw new Error("add_new_notes: bad start_time " + n.start_time);
        const note = Object.assign({ note_id: nextId++, velocity: 100, mute: 0, probability: 1, velocity_deviation: 0, release_velocity: 64 }, n);
        o.notes.push(note);
        ids.push(note.note_id);
      }
      return ids;
    }
    if (fn === "apply_note_modifications") {
      const dict = args[0];
      if (args.length !== 1 || !dict || !Array.isArray(dict.notes)) throw new Error("apply_note_modifications takes one dictionary {notes: [...]}");
      for (const n of dict.notes) {
        const note = o.notes.find((x) => x.note_id === n.note_id);
        if (!note) throw new Error("apply_note_modifications: no note with id " + n.note_id);
        if (!(n.duration > 0)) throw new Error("apply_note_modifications: bad duration " + n.duration);
        Object.assign(note, n);
      }
      return undefined;
    }
    throw new Error("fake Live: clip has no function " + fn);
  }

  /** Notes of a clip (by path) without ids, sorted: what a test compares. */
  notesOf(path) {
    return this.object(path).notes
      .map((n) => ({ pitch: n.pitch, start_time: n.start_time, duration: n.duration, velocity: n.velocity }))
      .sort((a, b) => a.start_time - b.start_time || a.pitch - b.pitch);
  }

  /** Calls of one function, optionally on one path. */
  callsOf(fn, path) {
    return this.calls.filter((c) => c.fn === fn && (path === undefined || c.path === path));
  }
}

module.exports = { FakeLive };
