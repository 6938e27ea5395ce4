import io
import string
from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midigen.server.language import midifiles
from midigen.server.language.midifiles import MidiFileError, build_midi, read_midi, write_midi
from midigen.server.language.piece import Note, Piece, TimeSignature, Track

SHARED_MIDI = Path(__file__).resolve().parents[2] / "shared" / "midi"

# From shared/midi/README.md: MIDI tracks, notes, drum notes present, programs (sorted).
# prompt_bach and prompt_sampling each hold one noteless track (an instrument slot for the model
# to fill: strings 43, and a drum kit), which the README counts as a track.
README = {
    "prompt_ar.mid": (3, 125, False, [0, 33, 50]),
    "prompt_bach.mid": (4, 194, False, [40, 41, 42, 43]),
    "prompt_bmw.mid": (3, 409, True, [0, 29, 32]),
    "prompt_californication.mid": (2, 526, False, [25, 33]),
    "prompt_harp.mid": (3, 114, False, [0, 46, 89]),
    "prompt_infill.mid": (3, 107, True, [0, 33, 90]),
    "prompt_sampling.mid": (3, 526, False, [0, 25, 33]),
}


def shared(name):
    path = SHARED_MIDI / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def midi_bytes(mid):
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def reread(piece, ticks_per_beat=480):
    buf = io.BytesIO()
    write_midi(piece, buf, ticks_per_beat)
    buf.seek(0)
    return read_midi(mido.MidiFile(file=buf))


def track_of(channel_messages, name=None):
    """A MidiTrack from (delta, message type, kwargs) tuples."""
    track = mido.MidiTrack()
    if name:
        track.append(mido.MetaMessage("track_name", name=name))
    for delta, kind, kwargs in channel_messages:
        track.append(mido.Message(kind, time=delta, **kwargs))
    return track


# --- the shared real files -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(README))
def test_shared_files_match_readme(name):
    tracks, notes, drums, programs = README[name]
    piece = read_midi(shared(name))
    assert len(piece.tracks) == tracks
    assert sum(len(t.notes) for t in piece.tracks) == notes
    assert any(t.is_drum and t.notes for t in piece.tracks) == drums
    assert sorted(t.program for t in piece.tracks) == programs
    assert [ts for _, ts in piece.time_signatures][0] == TimeSignature(4, 4)
    assert len(piece.tempos) == 1
    for track in piece.tracks:
        assert track.name
        assert all(n.duration > 0 and 1 <= n.velocity <= 127 for n in track.notes)
        assert track.notes == sorted(track.notes)


def test_shared_file_details():
    bmw = read_midi(shared("prompt_bmw.mid"))
    assert [(t.name, t.program, t.is_drum) for t in bmw.tracks] == [
        ("electric_bass_finger", 32, False),
        ("Solo", 29, False),
        ("Drums", 0, True),
    ]
    assert bmw.tempos == [(0.0, 120.0)]
    # end_of_track sits one tick past bar 8; that slop must not open a ninth bar.
    assert len(bmw.bars()) == 8

    bach = read_midi(shared("prompt_bach.mid"))
    assert bach.tracks[3].notes == [] and bach.tracks[3].program == 43
    assert [t.name for t in bach.tracks] == ["Strings"] * 4  # no names in the file: GM family

    sampling = read_midi(shared("prompt_sampling.mid"))
    assert [(t.is_drum, len(t.notes)) for t in sampling.tracks] == [
        (False, 462),
        (False, 64),
        (True, 0),
    ]


def test_infill_has_a_two_four_bar():
    piece = read_midi(shared("prompt_infill.mid"))
    bars = piece.bars()
    two_four = [b for b in bars if b.time_signature == TimeSignature(2, 4)]
    assert [(b.start, b.length) for b in two_four] == [(8.0, 2.0), (18.0, 2.0)]
    assert all(b.regular for b in two_four)
    assert piece.time_signatures[1] == (8.0, TimeSignature(2, 4))


def test_length_keeps_trailing_silence():
    # prompt_harp's last notes end at 31.92 but its tracks run to 32.0.
    piece = read_midi(shared("prompt_harp.mid"))
    assert piece.length == 32.0
    assert len(piece.bars()) == 8


@pytest.mark.parametrize("name", sorted(README))
def test_shared_round_trip_at_own_resolution(name):
    original = read_midi(shared(name))
    tpb = mido.MidiFile(shared(name)).ticks_per_beat
    back = reread(original, tpb)
    assert back.tracks == original.tracks
    assert back.tempos == original.tempos
    assert back.time_signatures == original.time_signatures
    assert back.end == original.end


@pytest.mark.parametrize("name", sorted(README))
def test_shared_round_trip_at_480(name):
    original = read_midi(shared(name))
    back = reread(original, 480)
    assert [(t.program, t.is_drum, t.name) for t in back.tracks] == [
        (t.program, t.is_drum, t.name) for t in original.tracks
    ]
    for got, want in zip(back.tracks, original.tracks):
        assert len(got.notes) == len(want.notes)
        key = lambda n: (n.pitch, n.start)  # noqa: E731 - rounding may reorder equal starts
        for a, b in zip(sorted(got.notes, key=key), sorted(want.notes, key=key)):
            assert (a.pitch, a.velocity) == (b.pitch, b.velocity)
            assert abs(a.start - b.start) <= 1 / 960 + 1e-9
            assert abs(a.end - b.end) <= 1 / 960 + 1e-9
    assert back.tempos == original.tempos  # tempo is stored in whole microseconds either way
    assert back.time_signatures == original.time_signatures


# --- property: write -> read is exact on a 1/480 grid ----------------------------------------


@st.composite
def pieces(draw):
    time_signatures, t = [], 0.0
    for _ in range(draw(st.integers(1, 3))):
        ts = TimeSignature(draw(st.integers(1, 12)), draw(st.sampled_from([1, 2, 4, 8, 16])))
        time_signatures.append((t, ts))
        t += ts.quarters * draw(st.integers(1, 3))  # changes only at bar boundaries
    length = t
    last_tick = int(length * 480)

    tempos = []
    for tick in sorted(draw(st.sets(st.integers(0, last_tick - 1), max_size=3))):
        tempos.append((tick / 480, mido.tempo2bpm(draw(st.integers(250_000, 1_500_000)))))

    n_tracks = draw(st.integers(1, 4))
    drum_index = draw(st.integers(0, n_tracks - 1))
    name = st.text(string.ascii_letters + string.digits + " ", min_size=1, max_size=12)
    raw_note = st.tuples(
        st.integers(0, last_tick), st.integers(1, 960), st.integers(0, 127), st.integers(1, 127)
    )
    tracks = []
    for i in range(n_tracks):
        notes = sorted(
            Note(s / 480, p, d / 480, v) for s, d, p, v in draw(st.lists(raw_note, max_size=25))
        )
        # MIDI cannot tell which of two overlapping same-pitch notes a note-off ends; readers
        # match first-in-first-out, so keep only notes whose ends follow that order.
        kept, last_end = [], {}
        for n in notes:
            if n.end >= last_end.get(n.pitch, 0.0):
                kept.append(n)
                last_end[n.pitch] = n.end
        track_name = draw(name.filter(str.strip))
        tracks.append(Track(draw(st.integers(0, 127)), i == drum_index, track_name, kept))
    return Piece(tracks, time_signatures, tempos, length)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces())
def test_write_read_is_exact(piece):
    back = reread(piece)
    assert back.tracks == piece.tracks
    assert back.time_signatures == piece.time_signatures
    assert back.tempos == piece.tempos
    assert back.end == pytest.approx(piece.end, abs=1e-9)  # (k + d) / 480 vs k / 480 + d / 480
    assert [b.start for b in back.bars()] == [b.start for b in piece.bars()]


# --- reading details ---------------------------------------------------------------------------


def test_running_status_and_velocity_zero_note_off():
    events = bytes(
        [
            0x00, 0xC0, 0x05,  # program change ch 1 -> 5
            0x00, 0x90, 60, 100,  # note on 60
            0x60, 62, 100,  # running status: note on 62, 96 ticks later
            0x00, 60, 0,  # running status, velocity 0: note off 60
            0x60, 62, 0,  # note off 62
            0x00, 0xFF, 0x2F, 0x00,  # end of track
        ]
    )  # fmt: skip
    data = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 0, 96])
    data += b"MTrk" + len(events).to_bytes(4, "big") + events
    piece = read_midi(mido.MidiFile(file=io.BytesIO(data)))
    assert len(piece.tracks) == 1
    track = piece.tracks[0]
    assert (track.program, track.is_drum, track.name) == (5, False, "Piano")
    assert track.notes == [Note(0.0, 60, 1.0, 100), Note(1.0, 62, 1.0, 100)]
    assert piece.length == 2.0


def test_type0_splits_by_channel():
    messages = [
        (0, "program_change", dict(channel=0, program=24)),
        (0, "program_change", dict(channel=3, program=40)),
        (0, "note_on", dict(channel=0, note=60, velocity=90)),
        (0, "note_on", dict(channel=9, note=36, velocity=100)),
        (0, "note_on", dict(channel=3, note=72, velocity=70)),
        (240, "note_off", dict(channel=9, note=36)),
        (240, "note_off", dict(channel=0, note=60)),
        (0, "note_off", dict(channel=3, note=72)),
        (0, "note_on", dict(channel=9, note=38, velocity=100)),
        (480, "note_off", dict(channel=9, note=38)),
    ]
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    mid.tracks.append(track_of(messages, name="My Song"))
    piece = read_midi(mido.MidiFile(file=io.BytesIO(midi_bytes(mid))))
    assert [(t.program, t.is_drum, t.name) for t in piece.tracks] == [
        (24, False, "Guitar"),
        (40, False, "Strings"),
        (0, True, "Drums"),
    ]
    assert piece.tracks[0].notes == [Note(0.0, 60, 1.0, 90)]
    assert piece.tracks[1].notes == [Note(0.0, 72, 1.0, 70)]
    assert piece.tracks[2].notes == [Note(0.0, 36, 0.5, 100), Note(1.0, 38, 1.0, 100)]


def test_overlaps_missing_offs_zero_length_and_late_program():
    messages = [
        (0, "note_on", dict(channel=2, note=60, velocity=10)),
        (0, "program_change", dict(channel=2, program=7)),  # before the first note: it counts
        (0, "note_on", dict(channel=2, note=64, velocity=50)),  # zero length: dropped
        (0, "note_off", dict(channel=2, note=64)),
        (480, "note_on", dict(channel=2, note=60, velocity=20)),  # overlaps the first 60
        (480, "note_off", dict(channel=2, note=60)),  # ends the first 60 (FIFO)
        (0, "program_change", dict(channel=2, program=99)),  # after the first note: ignored
        (480, "note_off", dict(channel=2, note=60)),  # ends the second 60
        (0, "note_on", dict(channel=2, note=67, velocity=30)),  # never released
        (0, "note_off", dict(channel=2, note=50)),  # stray note-off: ignored
        (960, "control_change", dict(channel=2, control=7, value=100)),
    ]
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(track_of(messages, name="Lead"))
    piece = read_midi(mido.MidiFile(file=io.BytesIO(midi_bytes(mid))))
    [track] = piece.tracks
    assert (track.program, track.name) == (7, "Lead")
    assert track.notes == [
        Note(0.0, 60, 2.0, 10),
        Note(1.0, 60, 2.0, 20),
        Note(3.0, 67, 2.0, 30),  # ends with its track at tick 2400
    ]


def test_conductor_program_changes_and_tempo_map_in_other_tracks():
    # Some files set every channel's program in track 0 and keep tempo changes elsewhere.
    setup = track_of(
        [
            (0, "program_change", dict(channel=0, program=33)),
            (0, "program_change", dict(channel=1, program=56)),
            (0, "program_change", dict(channel=5, program=11)),
        ]  # fmt: skip
    )
    setup.insert(0, mido.MetaMessage("set_tempo", tempo=500_000))
    bass = track_of([(0, "note_on", dict(channel=0, note=40, velocity=80)),
                     (480, "note_off", dict(channel=0, note=40))], name="Bass")  # fmt: skip
    horn = track_of([(0, "note_on", dict(channel=1, note=70, velocity=80)),
                     (480, "note_off", dict(channel=1, note=70))])  # fmt: skip
    horn.insert(0, mido.MetaMessage("set_tempo", tempo=400_000, time=0))
    horn.insert(1, mido.MetaMessage("time_signature", numerator=3, denominator=4, time=240))
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.extend([setup, bass, horn])
    piece = read_midi(mido.MidiFile(file=io.BytesIO(midi_bytes(mid))))
    # Channel 0 and 1 program changes in track 0 are set-up for other tracks, not tracks of their
    # own; channel 5 sounds nowhere, so its lone program change is not a track either (track 0
    # holds several channels).
    assert [(t.program, t.name) for t in piece.tracks] == [(33, "Bass"), (56, "Brass")]
    assert piece.tempos == [(0.0, 150.0)]  # same tick: the later track wins
    assert piece.time_signatures == [(0.5, TimeSignature(3, 4))]


def test_program_from_other_tracks_is_the_latest_before_the_first_note():
    late_setup = track_of([(240, "program_change", dict(channel=1, program=10))])
    notes = track_of([(480, "note_on", dict(channel=1, note=60, velocity=80)),
                      (480, "note_off", dict(channel=1, note=60))])  # fmt: skip
    early_setup = track_of([(0, "program_change", dict(channel=1, program=56)),
                            (1440, "program_change", dict(channel=1, program=99))])  # fmt: skip
    blip = track_of([(0, "note_on", dict(channel=4, note=60, velocity=80)),
                     (0, "note_off", dict(channel=4, note=60))])  # fmt: skip
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.extend([late_setup, notes, early_setup, blip])
    piece = read_midi(mido.MidiFile(file=io.BytesIO(midi_bytes(mid))))
    # Only a zero-length note on channel 4: nothing to keep there.
    assert [(t.program, len(t.notes)) for t in piece.tracks] == [(10, 1)]


def test_lone_program_change_track_is_kept_as_empty_track():
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(track_of([(0, "note_on", dict(channel=0, note=60, velocity=80)),
                                (480, "note_off", dict(channel=0, note=60))]))  # fmt: skip
    mid.tracks.append(track_of([(0, "program_change", dict(channel=1, program=73))], name="Fl"))
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name="Empty")]))
    piece = read_midi(mido.MidiFile(file=io.BytesIO(midi_bytes(mid))))
    assert [(t.program, t.name, len(t.notes)) for t in piece.tracks] == [
        (0, "Piano", 1),
        (73, "Fl", 0),
    ]


def test_read_from_path_and_midifile_agree(tmp_path):
    path = tmp_path / "a.mid"
    path.write_bytes(shared("prompt_ar.mid").read_bytes())
    assert read_midi(path) == read_midi(str(path)) == read_midi(mido.MidiFile(path))


# --- writing details ---------------------------------------------------------------------------


def test_written_file_layout():
    piece = Piece(
        tracks=[Track(0, False, f"t{i}", [Note(float(i), 60, 1.0, 90)]) for i in range(16)]
        + [Track(25, True, "Kit", [Note(0.0, 36, 0.5, 100)])],
        time_signatures=[(0.0, TimeSignature(3, 4))],
        tempos=[(0.0, 90.0)],
        length=24.0,
    )
    mid = build_midi(piece)
    assert mid.type == 1 and len(mid.tracks) == 18
    conductor = mid.tracks[0]
    assert not any(hasattr(m, "channel") for m in conductor)
    assert [m.type for m in conductor] == ["set_tempo", "time_signature", "end_of_track"]
    assert sum(m.time for m in conductor) == 24 * 480
    channels = [{m.channel for m in t if hasattr(m, "channel")} for t in mid.tracks[1:]]
    assert channels == [{c} for c in [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 0, 9]]
    assert mid.tracks[17][0] == mido.MetaMessage("track_name", name="Kit")
    assert mid.tracks[17][1].type == "program_change" and mid.tracks[17][1].program == 25
    # Two tracks share channel 0 yet keep their own programs and notes on the way back.
    piece.tracks[15].program = 48
    back = reread(piece)
    assert back.tracks == piece.tracks


def test_note_off_precedes_note_on_at_same_tick():
    notes = [Note(0.0, 60, 1.0, 90), Note(1.0, 60, 1.0, 91)]
    mid = build_midi(Piece([Track(0, False, "Keys", notes)]))
    track = [m for m in mid.tracks[1] if m.type in ("note_on", "note_off")]
    assert [(m.type, m.time) for m in track] == [
        ("note_on", 0),
        ("note_off", 480),
        ("note_on", 0),
        ("note_off", 480),
    ]
    assert reread(Piece([Track(0, False, "Keys", notes)])).tracks[0].notes == notes


def test_write_to_path_then_read(tmp_path):
    piece = read_midi(shared("prompt_infill.mid"))
    target = tmp_path / "out.mid"
    write_midi(piece, target)
    write_midi(piece, str(target))  # overwrite in place
    assert read_midi(target).tracks == piece.tracks
    assert [p.name for p in tmp_path.iterdir()] == ["out.mid"]


# --- bad input ---------------------------------------------------------------------------------


def test_text_file_is_rejected(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not music\n" * 10)
    with pytest.raises(MidiFileError, match="not a valid MIDI file") as info:
        read_midi(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_file_is_rejected(tmp_path):
    path = tmp_path / "cut.mid"
    path.write_bytes(shared("prompt_bmw.mid").read_bytes()[:1000])
    with pytest.raises(MidiFileError, match="truncated") as info:
        read_midi(path)
    assert "cut.mid" in str(info.value)


def test_missing_file_is_rejected(tmp_path):
    path = tmp_path / "nowhere.mid"
    with pytest.raises(MidiFileError, match="no such file") as info:
        read_midi(str(path))
    assert "nowhere.mid" in str(info.value)


def test_corrupt_data_byte_is_rejected(tmp_path):
    data = bytearray(shared("prompt_ar.mid").read_bytes())
    status = data.index(0x90, 30)  # first note-on in the first track
    data[status + 1] = 0xF7  # a status byte where a data byte belongs
    path = tmp_path / "bad.mid"
    path.write_bytes(bytes(data))
    with pytest.raises(MidiFileError, match="bad.mid"):
        read_midi(path)


def test_write_into_missing_directory_leaves_nothing(tmp_path):
    piece = Piece([Track(0, False, "Keys", [Note(0.0, 60, 1.0, 90)])])
    with pytest.raises(OSError):
        write_midi(piece, tmp_path / "missing" / "out.mid")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "song.mid"
    target.write_bytes(b"old contents")
    piece = Piece([Track(0, False, "Keys", [Note(0.0, 60, 1.0, 90)])])

    def broken_save(self, filename=None, file=None):
        file.write(b"MThd half a file")
        raise OSError("disk full")

    monkeypatch.setattr(midifiles.mido.MidiFile, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_midi(piece, target)
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["song.mid"]


def test_bad_piece_fails_before_touching_disk(tmp_path):
    target = tmp_path / "song.mid"
    piece = Piece([Track(0, False, "Keys", [Note(0.0, 200, 1.0, 90)])])  # pitch out of range
    with pytest.raises(ValueError):
        write_midi(piece, target)
    assert list(tmp_path.iterdir()) == []
