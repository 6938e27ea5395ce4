"""music21 score -> midigen Piece.

Kept apart from corpus.py because this is the part with musical judgement in it (programs, chord
voicings, pickups); corpus.py only finds, splits and caches works. Choices are documented in
docs/corpus.md; in short: repeats are not expanded, grace notes are dropped, ties are merged, a
pickup is padded to a full bar, chord symbols become a block-chord track.
"""

from __future__ import annotations

from music21 import chord, harmony, layout, meter, note, stream, tempo

from midigen.server.language.piece import EPS, Note, Piece, TimeSignature, Track

DEFAULT_VELOCITY = 80
CHORD_VELOCITY = 64  # accompaniment sits under the melody
CHORD_PROGRAM = 0  # acoustic grand: neutral for every collection
CHOIR = 52

# Part-name keywords -> GM program. Checked in order, so "violoncello" must precede "violin" and
# "bass" (the voice) must come after "double bass"/"contrabass" (the instrument).
NAME_PROGRAMS: list[tuple[str, int]] = [
    ("violoncello", 42), ("cello", 42), ("contrabass", 43), ("double bass", 43),
    ("viola", 41), ("violin", 40), ("fiddle", 40), ("electric piano", 4), ("piano", 0),
    ("harpsichord", 6),
    ("organ", 19), ("guitar", 24), ("lute", 24), ("harp", 46), ("piccolo", 72), ("flute", 73),
    ("recorder", 74), ("oboe", 68), ("english horn", 69), ("clarinet", 71), ("bassoon", 70),
    ("horn", 60), ("trumpet", 56), ("tromba", 56), ("trombone", 57), ("tuba", 58),
    ("timpani", 47),
    # Voices (Latin, Italian and English names used by the early-music encodings).
    ("soprano", CHOIR), ("cantus", CHOIR), ("canto", CHOIR), ("superius", CHOIR),
    ("discantus", CHOIR), ("alto", CHOIR), ("altus", CHOIR), ("contratenor", CHOIR),
    ("quinto", CHOIR), ("quintus", CHOIR), ("sextus", CHOIR), ("tenor", CHOIR),
    ("bassus", CHOIR), ("basso", CHOIR), ("bass", CHOIR), ("voice", CHOIR), ("vox", CHOIR),
]  # fmt: skip

# Collections whose encoders assigned arbitrary MIDI instruments (trecento pieces come as
# "Tenor Sax"/"Trombone", Monteverdi as "Grand Piano") although the music is sung.
VOCAL_COLLECTIONS = {
    "palestrina", "monteverdi", "trecento", "josquin", "ciconia", "luca", "lusitano",
}  # fmt: skip
# Folk melodies carry no instrument at all; pick the one the tradition plays them on.
FOLK_PROGRAMS = {
    "essenFolksong": 73, "miscFolk": 73,  # songs: flute stands in for the voice
    "oneills1850": 40, "ryansMammoth": 40, "airdsAirs": 40, "nottingham-dataset": 40,  # fiddle
}  # fmt: skip


def program_for(part_name: str, m21_program: int | None, collection: str) -> int:
    """Names beat the encoded MIDI program: encoders often left a default piano on voices."""
    name = part_name.lower()
    for keyword, program in NAME_PROGRAMS:
        if keyword in name:
            return program
    if collection in VOCAL_COLLECTIONS:
        return CHOIR
    if collection in FOLK_PROGRAMS:
        return FOLK_PROGRAMS[collection]
    if m21_program is not None and 0 <= m21_program < 128:
        return m21_program
    return 0


def _velocity(element: note.GeneralNote) -> int:
    if element.hasVolumeInformation() and element.volume.velocity is not None:
        return max(1, min(127, int(round(element.volume.velocity))))
    return DEFAULT_VELOCITY


def _part_notes(flat: stream.Stream, shift: float) -> list[Note]:
    """Pitched notes of one flattened part with ties merged and grace notes dropped.

    Ties are merged per pitch here rather than with music21's stripTies, which copies the whole
    part and is the slowest step on the big quartets.
    """
    merged: list[list] = []  # [start, pitch, duration, velocity]
    open_ties: dict[int, int] = {}  # pitch -> index in merged of the note a tie continues
    for element in flat.notes:
        if isinstance(element, harmony.Harmony) or element.duration.isGrace:
            continue
        if isinstance(element, chord.Chord):
            parts = [(n, n.tie if n.tie is not None else element.tie) for n in element.notes]
            velocity = _velocity(element)
        elif isinstance(element, note.Note):
            parts = [(element, element.tie)]
            velocity = None
        else:  # Unpitched and percussion chords: the corpus has no drum parts worth keeping
            continue
        start = float(element.offset) + shift
        length = float(element.duration.quarterLength)
        if length <= EPS:
            continue
        for n, tie in parts:
            pitch = n.pitch.midi
            if not 0 <= pitch <= 127:
                continue
            kind = tie.type if tie is not None else None
            index = open_ties.pop(pitch, None)
            if (
                kind in ("stop", "continue")
                and index is not None
                and abs(merged[index][0] + merged[index][2] - start) < 1e-3
            ):
                merged[index][2] = start + length - merged[index][0]
            else:
                index = len(merged)
                merged.append([start, pitch, length, velocity or _velocity(n)])
            if kind in ("start", "continue"):
                open_ties[pitch] = index
    return sorted(Note(s, p, d, v) for s, p, d, v in merged)


def voice_chord(symbol: harmony.ChordSymbol) -> list[int]:
    """Bass in E2-D#3 plus up to four chord tones in close position within G3-F#4.

    A fixed window keeps consecutive chords near each other (crude voice leading) and keeps the
    accompaniment below typical melody registers.
    """
    pitch_classes: list[int] = []
    for p in symbol.pitches:
        if p.pitchClass not in pitch_classes:
            pitch_classes.append(p.pitchClass)
    if not pitch_classes:
        return []
    bass = symbol.bass() or symbol.root()
    bass_pc = bass.pitchClass if bass is not None else pitch_classes[0]
    upper = sorted(55 + (pc - 55) % 12 for pc in pitch_classes[:4])
    return [40 + (bass_pc - 40) % 12, *upper]


def _chord_track(flat: stream.Stream, shift: float, end: float) -> Track | None:
    """Each chord symbol sounds until the next one (or a N.C.) or the end of the part."""
    symbols: dict[float, harmony.Harmony] = {}
    for h in flat.getElementsByClass(harmony.ChordSymbol):
        symbols[float(h.offset) + shift] = h  # a later symbol at the same time wins
    times = sorted(symbols)
    notes: list[Note] = []
    for i, start in enumerate(times):
        symbol = symbols[start]
        stop = times[i + 1] if i + 1 < len(times) else end
        if isinstance(symbol, harmony.NoChord) or stop - start <= EPS:
            continue
        try:
            pitches = voice_chord(symbol)
        except Exception:  # noqa: BLE001 - an unreadable figure loses one chord, not the tune
            continue
        notes.extend(Note(start, p, stop - start, CHORD_VELOCITY) for p in pitches)
    if not notes:
        return None
    return Track(program=CHORD_PROGRAM, name="Chords", notes=sorted(notes))


def _time_signatures(part: stream.Stream, shift: float) -> list[tuple[float, TimeSignature]]:
    """Signature changes read measure by measure.

    Not from part.flatten(): the ABC reader reuses one TimeSignature object in several measures
    and a flattened stream keeps only one offset per object, so changes would go missing.
    """
    changes: list[tuple[float, TimeSignature]] = []
    for m in part.getElementsByClass(stream.Measure):
        for ts in m.getElementsByClass(meter.TimeSignature):
            value = TimeSignature(int(ts.numerator), int(ts.denominator))
            time = 0.0 if not changes else float(m.offset + ts.offset) + shift
            if changes and abs(changes[-1][0] - time) < EPS:
                changes[-1] = (time, value)
            elif not changes or changes[-1][1] != value:
                changes.append((time, value))
    if not changes:  # no measures (ABC with "%%MIDI nobarlines"): keep the opening meter
        first = next(iter(part.recurse().getElementsByClass(meter.TimeSignature)), None)
        if first is not None:
            changes.append((0.0, TimeSignature(int(first.numerator), int(first.denominator))))
    return changes


def _tempos(part: stream.Stream, shift: float) -> list[tuple[float, float]]:
    """Written metronome marks; playback-only <sound tempo> values only where nothing is written.

    Joplin's rag writes 100 and plays 120: the written mark is the composer's. Marks guessed from
    words ("Allegro" -> 132) are skipped as guesses.
    """
    written: list[tuple[float, float]] = []
    sounding: list[tuple[float, float]] = []
    for m in part.getElementsByClass(stream.Measure):
        for mark in m.getElementsByClass(tempo.MetronomeMark):
            if mark.numberImplicit:
                continue
            bpm = float(mark.getQuarterBPM() or 0.0)
            target = written if mark.number is not None else sounding
            time = float(m.offset + mark.offset) + shift
            if not target and time <= shift + EPS:
                time = 0.0
            if bpm > 0 and (not target or abs(target[-1][1] - bpm) > EPS):
                target.append((time, bpm))
    tempos = written or sounding
    if not tempos or tempos[0][0] > EPS:
        tempos.insert(0, (0.0, 120.0))
    return tempos


def _pickup_shift(part: stream.Stream) -> float:
    """Quarters of silence to put before a pickup so the first full bar starts on a bar line."""
    measures = list(part.getElementsByClass(stream.Measure)[:2])
    if len(measures) < 2:
        return 0.0
    first = measures[0]
    ts = first.timeSignature or first.getContextByClass(meter.TimeSignature)
    if ts is None:
        return 0.0
    full = float(ts.barDuration.quarterLength)
    played = float(measures[1].offset - first.offset)
    return full - played if EPS < played < full - EPS else 0.0


def _groups(score: stream.Score) -> list[list[stream.Part]]:
    """Parts that make one instrument (a piano's two staves) are merged into one track."""
    parts = list(score.parts)
    groups: list[list[stream.Part]] = []
    seen: set[int] = set()
    for group in score.getElementsByClass(layout.StaffGroup):
        members = [p for p in group.getSpannedElements() if isinstance(p, stream.PartStaff)]
        if len(members) > 1 and all(id(p) not in seen for p in members):
            seen.update(id(p) for p in members)
            groups.append(members)
    for p in parts:
        if id(p) not in seen:
            groups.append([p])
    order = {id(p): i for i, p in enumerate(parts)}
    return sorted(groups, key=lambda g: min(order.get(id(p), 0) for p in g))


def to_piece(score: stream.Score, collection: str = "") -> Piece:
    """Convert a parsed score; `collection` (the corpus folder) picks default instruments."""
    parts = list(score.parts) or [score]
    shift = _pickup_shift(parts[0])
    end = float(score.highestTime) + shift
    piece = Piece(
        time_signatures=_time_signatures(parts[0], shift),
        tempos=_tempos(parts[0], shift),
        length=end,
    )
    chord_tracks: list[Track] = []
    for group in _groups(score) if isinstance(score, stream.Score) else [parts]:
        notes: list[Note] = []
        for part in group:
            flat = part.flatten()
            notes.extend(_part_notes(flat, shift))
            # Early-music ABC uses quoted letters as section marks, not chord symbols.
            vocal = collection in VOCAL_COLLECTIONS
            accompaniment = None if vocal else _chord_track(flat, shift, end)
            if accompaniment is not None:
                chord_tracks.append(accompaniment)
        first = group[0]
        instrument = first.getInstrument(returnDefault=False)
        m21_program = instrument.midiProgram if instrument is not None else None
        name = first.partName or (instrument.instrumentName if instrument is not None else "")
        if notes:
            piece.tracks.append(
                Track(
                    program=program_for(name or "", m21_program, collection),
                    name=name or "",
                    notes=sorted(notes),
                )
            )
    piece.tracks.extend(chord_tracks)
    return piece
