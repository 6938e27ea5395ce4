"""Results are written as edits of the user's file: only the selected notes change.

Every case re-derives the expected file independently (midifixtures.check_edit): all events
outside the selected notes identical (type, tick, data), the selected notes exactly those whose
real onset lies in the selection, the generated notes at their exact ticks.
"""

import io

import mido
import pytest
from midifixtures import SHARED_PROMPTS, absolute, check_edit, song

from midigen.server.language.midiedit import BarEdit, EditError, edit_midi
from midigen.server.language.midifiles import read_midi, save_midi
from midigen.server.language.piece import Note

SONGS = {
    "4/4, 460 ticks, tempo changes": song(),
    "1/4 pickup, 96 ticks": song(96, [(0, 1, 4), (1, 4, 4)]),
    "8/4 bars, 480 ticks": song(480, [(0, 4, 4), (2, 8, 4), (4, 4, 4)]),
    "7/8, 384 ticks": song(384, [(0, 7, 8)]),
    "17/16 and 3/32, 1000 ticks": song(1000, [(0, 17, 16), (2, 3, 32), (3, 5, 4)]),
}


def fake_bars(piece, track, bars):
    """Edits for `bars` of `track`: three notes per bar, as a model would write them."""
    grid = piece.bars()
    return [
        BarEdit(
            track,
            grid[b].start,
            grid[b].end,
            [
                Note(grid[b].start + k * grid[b].length / 3, 70 + k + b % 2, grid[b].length / 4, 84)
                for k in range(3)
            ],
        )
        for b in bars
    ]


def ticks(piece, bars, tpb):
    grid = piece.bars()
    return round(grid[bars[0]].start * tpb), round(grid[bars[-1]].end * tpb)


def reloaded(mid):
    buf = io.BytesIO()
    save_midi(mid, buf)
    buf.seek(0)
    return mido.MidiFile(file=buf)


@pytest.mark.parametrize("name", sorted(SONGS))
def test_infill_changes_only_the_selected_notes(name):
    mid = SONGS[name]
    piece = read_midi(mid)
    bars = [2, 3]
    edits = fake_bars(piece, 0, bars)
    out = reloaded(edit_midi(mid, piece, edits))
    lo, hi = ticks(piece, bars, mid.ticks_per_beat)
    new = check_edit(mid, out, *piece.tracks[0].source, lo, hi)
    tpb = mid.ticks_per_beat
    want = [(round(n.start * tpb), round(n.end * tpb), n.pitch) for e in edits for n in e.notes]
    assert sorted(new) == sorted(want)


def test_selection_is_decided_on_real_onsets():
    """The song has a note one tick before every bar line: the one before the selection stays,
    the one before the selection's end goes (a grid would have moved both across the line)."""
    mid = SONGS["4/4, 460 ticks, tempo changes"]
    piece = read_midi(mid)
    lo, hi = ticks(piece, [2, 3], mid.ticks_per_beat)
    out = edit_midi(mid, piece, fake_bars(piece, 0, [2, 3]))
    before = {t for t, m in absolute(mid.tracks[1]) if m.type == "note_on" and m.velocity}
    after = {t for t, m in absolute(out.tracks[1]) if m.type == "note_on" and m.velocity}
    assert lo - 1 in before and lo - 1 in after
    assert hi - 1 in before and hi - 1 not in after


@pytest.mark.parametrize("path", SHARED_PROMPTS, ids=lambda p: p.name)
def test_shared_prompts(path):
    mid = mido.MidiFile(path)
    piece = read_midi(mid)
    track = next(i for i, t in enumerate(piece.tracks) if t.notes)
    bars = [1, 2]
    edits = fake_bars(piece, track, bars)
    out = reloaded(edit_midi(mid, piece, edits))
    lo, hi = ticks(piece, bars, mid.ticks_per_beat)
    new = check_edit(mid, out, *piece.tracks[track].source, lo, hi)
    assert len(new) == sum(len(e.notes) for e in edits)
    assert out.ticks_per_beat == mid.ticks_per_beat


@pytest.mark.parametrize("path", SHARED_PROMPTS, ids=lambda p: p.name)
def test_with_nothing_to_change_the_file_comes_back_byte_for_byte(path):
    mid = mido.MidiFile(path)
    buf = io.BytesIO()
    save_midi(edit_midi(mid, read_midi(mid), []), buf)
    assert buf.getvalue() == path.read_bytes()


def test_an_unchanged_track_is_carried_over_message_for_message():
    mid = SONGS["4/4, 460 ticks, tempo changes"]
    piece = read_midi(mid)
    out = edit_midi(mid, piece, fake_bars(piece, 0, [1]))
    assert list(out.tracks[0]) == list(mid.tracks[0]) and list(out.tracks[2]) == list(mid.tracks[2])


def test_notes_ringing_in_are_kept_and_cut_where_a_new_note_of_their_pitch_starts():
    mid = SONGS["4/4, 460 ticks, tempo changes"]
    piece = read_midi(mid)
    grid, tpb = piece.bars(), mid.ticks_per_beat
    held = next(n for n in piece.tracks[0].notes if n.pitch == 48)  # bar 5 to bar 8
    assert grid[4].start < held.start < grid[5].start and held.end > grid[6].end
    bar = grid[5]
    new = [Note(bar.start + 1, 48, 1.0, 84), Note(bar.start + 1, 50, 1.0, 84)]
    out = edit_midi(mid, piece, [BarEdit(0, bar.start, bar.end, new)])
    check_edit(mid, out, 1, 0, round(bar.start * tpb), round(bar.end * tpb))
    notes = read_midi(out).tracks[0].notes
    cut = next(n for n in notes if n.pitch == 48 and n.start == held.start)
    assert cut.end == bar.start + 1  # ends where the new 48 starts
    assert Note(bar.start + 1, 48, 1.0, 84) in notes


def test_a_new_note_ringing_out_is_cut_where_a_kept_note_of_its_pitch_starts():
    mid = SONGS["4/4, 460 ticks, tempo changes"]
    piece = read_midi(mid)
    grid = piece.bars()
    bar, nxt = grid[2], grid[3]
    first_after = min(n for n in piece.tracks[0].notes if n.start >= nxt.start)
    new = Note(bar.start, first_after.pitch, nxt.start + 2 - bar.start, 84)
    out = edit_midi(mid, piece, [BarEdit(0, bar.start, bar.end, [new])])
    notes = read_midi(out).tracks[0].notes
    written = next(n for n in notes if n.start == bar.start and n.pitch == new.pitch)
    assert written.end == first_after.start
    assert first_after in notes


def test_continuation_past_the_end_moves_only_the_end_of_track():
    mid = SONGS["7/8, 384 ticks"]
    piece = read_midi(mid)
    tpb, last = mid.ticks_per_beat, piece.bars()[-1]
    start, end = last.end, last.end + last.length
    out = edit_midi(mid, piece, [BarEdit(1, start, end, [Note(start, 40, end - start, 84)])])
    new = check_edit(mid, out, 2, 1, round(start * tpb), round(end * tpb))
    assert new == [(round(start * tpb), round(end * tpb), 40)]
    length = sum(m.time for m in out.tracks[2])
    assert length == round(end * tpb)


def test_type_0_files_keep_their_single_track():
    mid = mido.MidiFile(type=0, ticks_per_beat=120)
    track = mido.MidiTrack()
    for ch, pitch in ((0, 60), (1, 40), (0, 62), (1, 41)):
        track.append(mido.Message("note_on", channel=ch, note=pitch, velocity=90, time=0))
        track.append(mido.Message("control_change", channel=ch, control=1, value=pitch, time=60))
        track.append(mido.Message("note_off", channel=ch, note=pitch, time=420))
    mid.tracks.append(track)
    piece = read_midi(mid)
    assert [t.source for t in piece.tracks] == [(0, 0), (0, 1)]
    bar = piece.bars()[1]
    out = edit_midi(mid, piece, [BarEdit(1, bar.start, bar.end, [Note(bar.start, 43, 1, 84)])])
    assert out.type == 0 and len(out.tracks) == 1
    check_edit(mid, out, 0, 1, round(bar.start * 120), round(bar.end * 120))


def test_an_edit_for_a_track_the_file_does_not_hold_is_refused():
    mid = SONGS["7/8, 384 ticks"]
    piece = read_midi(mid)
    with pytest.raises(EditError, match="track 9"):
        edit_midi(mid, piece, [BarEdit(8, 0.0, 1.0, [])])
    piece.tracks[0].source = None  # e.g. a piece built in code
    with pytest.raises(EditError, match="track 1"):
        edit_midi(mid, piece, [BarEdit(0, 0.0, 1.0, [])])


def test_the_input_file_object_is_not_changed():
    mid = song()
    before = [absolute(t) for t in mid.tracks]
    piece = read_midi(mid)
    edit_midi(mid, piece, fake_bars(piece, 0, [2]))
    assert [absolute(t) for t in mid.tracks] == before


def test_generated_notes_of_one_pitch_do_not_overlap_each_other():
    mid = SONGS["7/8, 384 ticks"]
    piece = read_midi(mid)
    bar = piece.bars()[2]
    notes = [Note(bar.start, 77, 3.0, 84), Note(bar.start + 1, 77, 0.5, 84)]
    out = edit_midi(mid, piece, [BarEdit(0, bar.start, bar.end, notes)])
    written = [n for n in read_midi(out).tracks[0].notes if n.pitch == 77]
    assert written == [Note(bar.start, 77, 1.0, 84), notes[1]]


CLI_FILES = [(name, [4, 5]) for name in sorted(SONGS)] + [(p.name, [2, 3]) for p in SHARED_PROMPTS]


@pytest.mark.parametrize("name, bars", CLI_FILES, ids=[n for n, _ in CLI_FILES])
def test_midigen_infill_changes_only_the_selected_notes(name, bars, bundle, tmp_path, capsys):
    """The same check through `midigen infill` (tiny random model) on every file above."""
    from midigen.server.tools.cli import main

    path = tmp_path / "in.mid"
    if name in SONGS:
        SONGS[name].save(path)
    else:
        path.write_bytes(next(p for p in SHARED_PROMPTS if p.name == name).read_bytes())
    original = mido.MidiFile(path)
    piece = read_midi(original)
    track = next(i for i, t in enumerate(piece.tracks) if t.notes and not t.is_drum)
    out = tmp_path / "out.mid"
    args = ["infill", str(path), "--track", str(track + 1), "--bars", f"{bars[0]}-{bars[1]}"]
    args += ["--model", str(bundle), "--threads", "1", "--max-bar-tokens", "40", "--seed", "2"]
    assert main([*args, "-q", "-o", str(out)]) == 0, capsys.readouterr().err
    lo, hi = ticks(piece, [bars[0] - 1, bars[1] - 1], original.ticks_per_beat)
    new = check_edit(original, mido.MidiFile(out), *piece.tracks[track].source, lo, hi)
    if name in SONGS:  # the songs' own notes have odd velocities; the model's are 8k + 4
        velocities = [
            m.velocity
            for tick, m in absolute(mido.MidiFile(out).tracks[1])
            if m.type == "note_on" and m.velocity and m.channel == 0 and lo <= tick < hi
        ]
        assert len(velocities) == len(new) and all(v % 8 == 4 for v in velocities)
