"""The yardstick of issue 15: phrase tasks (training/phrase_tasks.py), the baselines
(training/baselines.py), the measures (training/musicality.py) and the comparison
(training/compare.py), on hand-built pieces whose answers are known, and the tiny random bundle
for the model's column (its music means nothing; that it is measured beside the baselines on the
same tasks does)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from midigen.server.engine.sampling import SamplingOptions
from midigen.server.language import vocab as vocab_mod
from midigen.server.language.piece import Note, Piece, TimeSignature, Track
from training import baselines, card_baselines, compare, musicality, phrase_tasks
from training.phrase_tasks import PhraseTask

VOCAB = vocab_mod.load()
# one bar of a C major arpeggio, with four velocities
PATTERN = ((0.0, 60, 80), (1.0, 64, 90), (2.0, 67, 100), (3.0, 72, 70))


def bars_of(pattern, bars, transpose=0, start_bar=0) -> list[Note]:
    return [Note(4.0 * b + t, p + transpose, 1.0, v)
            for b in range(start_bar, start_bar + bars) for t, p, v in pattern]  # fmt: skip


def piece_of(*tracks: list[Note], bars: int = 12) -> Piece:
    return Piece(
        tracks=[Track(program=0, name=f"t{i}", notes=sorted(n)) for i, n in enumerate(tracks)],
        time_signatures=[(0.0, TimeSignature(4, 4))],
        length=4.0 * bars,
    )


def task_of(piece: Piece, track: int = 0, first: int = 4) -> PhraseTask:
    return PhraseTask("test/piece", piece, track, first, first + 3)


@pytest.fixture
def steady() -> PhraseTask:
    """Twelve identical bars: the hole (bars 4-7) is the bar before it, four times."""
    return task_of(piece_of(bars_of(PATTERN, 12)))


def test_repeat_of_identical_bars_scores_as_the_original(steady):
    notes = baselines.repeat_previous(steady, np.random.default_rng(0))
    assert notes == steady.original()
    m = musicality.measure(steady, notes, VOCAB)
    assert m["pc_correlation"] == pytest.approx(1.0)
    assert m["onset_overlap"] == 1.0
    assert m["in_key"] == 1.0 and m["key"] == "0 major"
    assert m["notes_generated"] == m["notes_original"] == [4, 4, 4, 4]
    assert m["outside_range"] == 0 and not m["poly_violation"]
    assert all(abs(level - m["density_request"]) <= 1 for level in m["density_levels"])
    assert m["velocities_distinct"] == 4


def test_a_transposed_phrase_scores_lower(steady):
    moved = [Note(n.start + 0.5, n.pitch + 1, n.duration, 64) for n in steady.original()]
    m = musicality.measure(steady, moved, VOCAB)
    assert m["pc_correlation"] < 0.5
    assert m["in_key"] < 0.5  # C# E# G# C#: only E# (F) is in C major
    assert m["onset_overlap"] == 0.0  # off-beat: no position the original uses
    assert m["outside_range"] == 4  # the C#5s, above the part's C5
    assert m["outside_register"] == 0 and m["register"] == [57, 75]  # 3 semitones' margin
    high = musicality.measure(steady, [Note(16.0, 76, 1.0), Note(17.0, 75, 1.0)], VOCAB)
    assert high["outside_register"] == 1 and high["outside_range"] == 2
    assert m["velocities_distinct"] == 1 and m["velocity_std"] == 0.0


def test_the_previous_bar_is_the_one_repeated():
    """Bar 3 differs from the others: the repeat must copy it, not another bar."""
    notes = bars_of(PATTERN, 12, start_bar=0)
    notes = [n for n in notes if not 12.0 <= n.start < 16.0] + bars_of(PATTERN, 1, 2, 3)
    task = task_of(piece_of(notes))
    out = baselines.repeat_previous(task, np.random.default_rng(0))
    assert sorted({n.pitch for n in out}) == [62, 66, 69, 74]
    assert [n.start for n in out[:4]] == [16.0, 17.0, 18.0, 19.0]


def test_random_notes_stay_in_the_range_on_the_grid():
    low_part = bars_of(((0.0, 40, 80), (2.0, 52, 60), (2.5, 47, 90)), 12)
    task = task_of(piece_of(low_part))
    for seed in range(5):
        notes = baselines.random_in_range(task, np.random.default_rng(seed))
        lo, hi = task.span
        assert all(40 <= n.pitch <= 52 and lo <= n.start < hi for n in notes)
        assert all((n.start * 4) == int(n.start * 4) for n in notes)  # 16th grid
        assert len(notes) == 12  # 3 notes in every bar with notes outside the hole
        assert {n.velocity for n in notes} <= {80, 60, 90}
        assert musicality.measure(task, notes, VOCAB)["outside_range"] == 0
    same = baselines.random_in_range(task, np.random.default_rng(3))
    assert same == baselines.random_in_range(task, np.random.default_rng(3))


def test_other_bars_are_copied_from_outside_the_hole():
    notes = [Note(4.0 * b, 50 + b, 1.0) for b in range(12)]  # one pitch per bar
    task = task_of(piece_of(notes))
    out = baselines.other_bars(task, np.random.default_rng(1))
    assert len(out) == 4
    assert [n.start for n in out] == [16.0, 20.0, 24.0, 28.0]
    assert all(n.pitch - 50 not in task.bars for n in out)


def test_key_finding_and_scales():
    for tonic in (0, 7, 9):
        for mode, ref in (("major", musicality.MAJOR_PROFILE), ("minor", musicality.MINOR_PROFILE)):
            assert musicality.key_of(np.roll(np.array(ref), tonic)) == (tonic, mode)
    assert musicality.key_of(np.zeros(12)) is None
    assert musicality.scale_of((9, "minor")) == musicality.scale_of((0, "major"))


def test_polyphony_counts_ringing_notes_and_flags_chords(steady):
    ring = [Note(14.0, 48, 3.0)]  # from bar 3 into the hole's first beat
    task = task_of(piece_of(ring + [n for n in steady.piece.tracks[0].notes if n.start >= 17]))
    assert musicality.polyphony(task, [Note(16.0, 60, 1.0)], VOCAB) == (1, 2)
    assert musicality.polyphony(task, [Note(17.0, 60, 1.0)], VOCAB) == (1, 1)
    chords = [Note(16.0 + k, p, 1.0) for k in range(4) for p in (60, 64)]  # dyads
    m = musicality.measure(steady, chords, VOCAB)
    assert m["poly_max"] == 1 and m["poly_violation"]


def test_density_of_empty_bars_is_off_the_request(steady):
    m = musicality.measure(steady, [], VOCAB)
    assert m["density_levels"] == [1, 1, 1, 1] and m["density_request"] >= 3
    assert m["pc_correlation"] is None and m["onset_overlap"] is None
    s = musicality.summarize([m])
    assert s["density_within_1"] == 0.0 and s["empty_bars"] == 1.0 and s["notes_ratio"] == 0.0


def test_median_density_track_is_chosen():
    sparse = [Note(4.0 * b, 40, 4.0) for b in range(12)]
    busy = [Note(b / 2, 72, 0.5) for b in range(96)]
    drums = [Note(b / 2, 36, 0.25) for b in range(96)]
    piece = piece_of(busy, bars_of(PATTERN, 12), sparse, drums)
    piece.tracks[3].is_drum = True
    assert phrase_tasks.median_density_track(piece) == 1
    piece.tracks[1].notes = []
    assert phrase_tasks.median_density_track(piece) == 2  # lower of two


def test_holes_need_the_part_on_both_sides():
    late = bars_of(PATTERN, 6, start_bar=6)  # silent in bars 0-5
    starts = phrase_tasks.hole_starts(piece_of(late, bars=16), 0, VOCAB)
    # the hole must hold notes, with notes in the 4 bars before and after it
    assert starts == [7]
    assert phrase_tasks.hole_starts(piece_of(bars_of(PATTERN, 12)), 0, VOCAB) == list(range(1, 8))


def test_task_selection_is_deterministic():
    items = [(f"test/{i}", piece_of(bars_of(PATTERN, 10 + i))) for i in range(6)]
    first = phrase_tasks.choose(items, 4, 0, VOCAB)
    again = phrase_tasks.choose(items, 4, 0, VOCAB)
    other = phrase_tasks.choose(items, 4, 1, VOCAB)
    key = [(t.work, t.track, t.bars) for t in first]
    assert key == [(t.work, t.track, t.bars) for t in again]
    assert key != [(t.work, t.track, t.bars) for t in other]
    assert len({t.work for t in first}) == 4  # one per piece while pieces last
    assert len(phrase_tasks.choose(items, 9, 0, VOCAB)) == 9  # a second pass


@pytest.fixture(scope="module")
def compared(engine, tmp_path_factory):
    """The tiny model and the baselines on 2 tasks x 2 seeds; (report, folder of the rolls)."""
    items = [(f"test/{i}#x", piece_of(bars_of(PATTERN, 12), bars_of(PATTERN, 12, -12)))
             for i in range(2)]  # fmt: skip
    options = SamplingOptions(max_bar_tokens=24)
    rolls = tmp_path_factory.mktemp("rolls")
    report = compare.run(engine, items, 2, 2, engine.vocab, options, rolls)
    report.update({"model": "models/tiny", "split": "pop909-test", "held_out_pieces": 2})
    return report, rolls


def test_compare_puts_the_model_beside_the_baselines(compared):
    report, rolls = compared
    names = [compare.MODEL, *baselines.BASELINES, compare.ORIGINAL]
    assert list(report["generators"]) == names
    tasks = {n: [(r["seed"], r["work"], r["bars"]) for r in report["records"][n]] for n in names}
    assert len(tasks[compare.MODEL]) == 4 and all(t == tasks[compare.MODEL] for t in tasks.values())
    original = report["generators"][compare.ORIGINAL]
    assert original["pc_correlation"] == pytest.approx(1.0) and original["notes_ratio"] == 1.0
    assert report["generators"][compare.MODEL]["outside_register"] == 0  # the grammar's limit
    assert report["generations"] == 4 and report["model_ms_per_bar"] > 0
    assert list(report["paired"]) == list(baselines.BASELINES)
    assert report["paired"][names[1]]["onset_overlap"] == musicality.paired(
        report["records"][compare.MODEL], report["records"][names[1]], "onset_overlap"
    )
    # the tiny model's 4-bar windows take a 4-bar hole as two 2-bar steps, each showing one
    # bar on either side, where every task has 3 or 4 context bars before its hole
    shown = report["context_records"]
    assert len(shown) == 4 and all(s["context_before"] == s["context_after"] == 1 for s in shown)
    assert all(s["context_before_possible"] >= 3 for s in shown)
    assert report["context"] == {"tasks": 4, "full": 0.0, "before": 1.0, "after": 1.0}
    lines = compare.table(report)
    assert len(lines) == 2 + len(compare.ROWS) and all(line.count("|") == 7 for line in lines)
    assert len(list(rolls.glob("*.png"))) == 2 * 3
    drawn = report["rolls"][0]["files"]
    assert list(drawn) == [compare.ORIGINAL, compare.MODEL, names[1]]
    assert all((rolls / name).is_file() and "#" not in name for name in drawn.values())
    json.dumps(report)


def test_the_card_states_the_reports_numbers(compared, tmp_path):
    report, _ = compared
    (tmp_path / "baselines-pop909-test.json").write_text(json.dumps(report))
    reports = card_baselines.load(tmp_path)
    assert list(reports) == ["pop909-test"]
    lines, pictures = card_baselines.section(reports)
    text = "\n".join(lines)
    assert "\n".join(compare.table(report)) in text
    assert pictures == list(report["rolls"][0]["files"].values())
    assert all(f"]({name})" in text for name in pictures)
    assert "- **pitch-class correlation**" in text and "--split pop909-test --tasks 2" in text
    onsets = report["paired"][card_baselines.REPEAT]["onset_overlap"]
    assert f"onsets {onsets['mean']:+.2f} +- " in text
    goals = {g[0]: g for g in card_baselines.goals(reports)}
    context = [g for name, g in goals.items() if "4 bars each side" in name]
    assert len(context) == 1 and context[0][3] is False and "0.0 % of 4 tasks" in context[0][2]
    repeat = report["generators"][card_baselines.REPEAT]
    pc = goals["POP909 4-bar infills: pitch-class correlation"]
    paired = report["paired"][card_baselines.REPEAT]
    assert pc[3] == (paired["pc_correlation"]["mean"] >= 0)
    assert f"on the {paired['pc_correlation']['tasks']} tasks both scored" in pc[2]
    # judged task by task on the tasks both scored (the means may cover different tasks)
    worse = json.loads(json.dumps(report))
    onset_row = "POP909 4-bar infills: grid-onset overlap"
    diff = worse["paired"][card_baselines.REPEAT]["onset_overlap"]
    worse["generators"][compare.MODEL]["onset_overlap"] = repeat["onset_overlap"] + 0.5
    for mean, met in ((-0.06, False), (-0.04, True), (-0.05, True)):
        diff["mean"] = mean
        rows = {g[0]: g[3] for g in card_baselines.goals({"pop909-test": worse})}
        assert rows[onset_row] is met, mean
    pc_diff = worse["paired"][card_baselines.REPEAT]["pc_correlation"]
    for mean, met in ((0.0, True), (-0.01, False)):  # "at least": equal is enough
        pc_diff["mean"] = mean
        rows = {g[0]: g[3] for g in card_baselines.goals({"pop909-test": worse})}
        assert rows["POP909 4-bar infills: pitch-class correlation"] is met
    # without the task-by-task numbers (an old report), the means decide
    del worse["paired"]
    for shift, met in ((-0.06, False), (-0.04, True)):
        worse["generators"][compare.MODEL]["onset_overlap"] = repeat["onset_overlap"] + shift
        rows = {g[0]: g[3] for g in card_baselines.goals({"pop909-test": worse})}
        assert rows[onset_row] is met
    assert card_baselines.section({}) == ([], [])


def test_the_card_shows_the_continuations_after_the_infills(compared, engine, tmp_path):
    report, _ = compared
    items = [("test/0#x", piece_of(bars_of(PATTERN, 12), bars_of(PATTERN, 12, -12)))]
    continued = compare.run(engine, items, 1, 1, engine.vocab, SamplingOptions(max_bar_tokens=24),
                            mode="continue")  # fmt: skip
    continued.update({"model": "models/tiny", "split": "pop909-test", "held_out_pieces": 1})
    (tmp_path / "baselines-pop909-test.json").write_text(json.dumps(report))
    (tmp_path / "continue-pop909-test.json").write_text(json.dumps(continued))
    assert list(card_baselines.load(tmp_path)) == list(card_baselines.load(tmp_path, "continue"))
    lines, _ = card_baselines.section(card_baselines.load(tmp_path),
                                      card_baselines.load(tmp_path, "continue"))  # fmt: skip
    text = "\n".join(lines)
    infill, after = "\n".join(compare.table(report)), "\n".join(compare.table(continued))
    assert infill != after and text.index(infill) < text.index("### Continuing a part")
    assert text.index("### Continuing a part") < text.index(after) < text.index("The measures:")
    assert "continued (1 tasks)" in text and "--mode continue" in text
    # no continuation reports: no such section
    assert "Continuing" not in "\n".join(card_baselines.section(card_baselines.load(tmp_path))[0])


def test_cli_refuses_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit):
        compare.main(["--split", "nonsense"])
    with pytest.raises(SystemExit):
        compare.main(["--split", "pop909-test", "--tasks", "0"])
    assert "at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="compare: no held-out pieces for classical-test"):
        compare.main(["--split", "classical-test", "--cache", str(tmp_path)])
    with pytest.raises(SystemExit, match="compare: .*not a model bundle"):
        compare.main(["--split", "classical-test", "--model", "/nonexistent"])


def test_a_note_a_hair_before_the_bar_line_belongs_to_the_hole(steady):
    """As generation assigns notes to bars (onsets rounded to the language's grid)."""
    early = Note(15.99, 48, 1.0)  # 1/100 quarter before bar 4: rounds onto its downbeat
    task = task_of(piece_of([*steady.piece.tracks[0].notes, early]))
    assert early in task.original() and early not in task.outside()
    assert musicality.measure(task, task.original(), VOCAB)["notes_original"][0] == 5


def test_means_carry_their_standard_error(steady):
    good = musicality.measure(steady, steady.original(), VOCAB)
    moved = [Note(n.start, n.pitch + 1, n.duration) for n in steady.original()]
    bad = musicality.measure(steady, moved, VOCAB)
    s = musicality.summarize([good, bad])
    values = [good["pc_correlation"], bad["pc_correlation"]]
    assert s["pc_correlation"] == pytest.approx(np.mean(values))
    assert s["pc_correlation_se"] == pytest.approx(abs(values[0] - values[1]) / 2)
    assert s["onset_overlap_se"] == 0.0  # same onsets: no spread
    row = compare._cell(s, "pc_correlation", "{:.2f}")
    assert row == f"{np.mean(values):.2f} +- {abs(values[0] - values[1]) / 2:.2f}"
    assert musicality.summarize([good])["pc_correlation_se"] is None


def test_paired_differences_skip_undefined_tasks():
    a = [{"x": 0.5}, {"x": 0.2}, {"x": None}]
    b = [{"x": 0.3}, {"x": 0.3}, {"x": 0.9}]
    p = musicality.paired(a, b, "x")
    assert p["tasks"] == 2 and p["mean"] == pytest.approx(0.05)
    assert p["se"] == pytest.approx(0.15)
    with pytest.raises(ValueError):  # records of different task lists are never paired
        musicality.paired(a, b[:2], "x")


def test_no_worse_than_the_reference_model_on_the_same_tasks(compared):
    def with_model(shift: float, se: float = 0.05, tasks: slice = slice(None)) -> dict:
        report = json.loads(json.dumps(compared[0]))
        report["model"] = "models/old"
        for name in (compare.ORIGINAL, compare.MODEL):
            report["records"][name] = report["records"][name][tasks]
        for key in ("pc_correlation", "onset_overlap"):
            report["generators"][compare.MODEL][key] = 0.5 + shift
            report["generators"][compare.MODEL][f"{key}_se"] = se
        return {"classical-test": report}

    mine = with_model(0.0)
    for shift, met in ((0.04, True), (0.06, False), (-0.3, True)):
        rows = card_baselines.reference_goals(mine, with_model(shift))
        assert [(r[0], r[3]) for r in rows] == [
            ("classical corpus, held-out works: pitch-class correlation vs `old`", met),
            ("classical corpus, held-out works: grid-onset overlap vs `old`", met),
        ]
    rows = card_baselines.reference_goals(mine, with_model(0.0, tasks=slice(1, None)))
    assert all("not comparable" in r[2] and r[3] is False for r in rows)  # 3 of 4 in common
    # with enough tasks in common, both sides are scored on those alone
    rows = card_baselines.reference_goals(mine, with_model(0.0, tasks=slice(1, None)), least=0.7)
    kept = compared[0]["records"][compare.MODEL][1:]
    mean = sum(r["pc_correlation"] for r in kept) / len(kept)
    assert rows[0][2].startswith(f"{card_baselines.num(mean)} vs {card_baselines.num(mean)}")
    assert all("(the 3 of 4 tasks both scored)" in r[2] and r[3] is True for r in rows)
    assert card_baselines.reference_goals(mine, {}) == []


def test_validation_splits_hold_the_validation_pieces_only(monkeypatch):
    """Decoding is tuned on `*-valid` tasks; they must never draw a test piece."""
    from training import corpus, pop909

    songs = {f"{i:03d}": f"song {i}" for i in range(1, 910)}
    monkeypatch.setattr(pop909, "load", lambda: songs)
    valid = phrase_tasks.load_split("pop909-valid")
    test = phrase_tasks.load_split("pop909-test")
    assert valid and test and not {w for w, _ in valid} & {w for w, _ in test}
    assert all(pop909.split_of(w.split("/")[1]) == "valid" for w, _ in valid)
    asked = []
    monkeypatch.setattr(corpus, "load_cached_items",
                        lambda cache, part: asked.append(part) or [("w", part)])  # fmt: skip
    assert phrase_tasks.load_split("classical-valid") == [("w", "valid")]
    assert phrase_tasks.load_split("classical-test") == [("w", "test")] and asked == [
        "valid",
        "test",
    ]
    with pytest.raises(ValueError, match="unknown split 'pop909-train'"):
        phrase_tasks.load_split("pop909-train")


def test_a_continuation_keeps_only_what_comes_before():
    """`compare --mode continue` scores the same phrase as the end of a piece cut where it
    starts: nothing after the hole may reach a baseline (or the server's measured controls)."""
    melody = [Note(4.0 * b, 50 + b, 6.0) for b in range(12)]  # one pitch per bar, 1.5 bars long
    long_chords = [Note(4.0 * b, 40 + b, 10.0) for b in range(0, 12, 2)]  # each rings 2.5 bars
    task = phrase_tasks.continuation(task_of(piece_of(melody, long_chords)))
    lo, hi = task.span
    assert (lo, hi) == (16.0, 32.0) and task.piece.end == hi and len(task.piece.bars()) == 8
    kept = [(n.start, n.pitch) for n in melody if lo <= n.start < hi]  # the answer is kept,
    assert [(n.start, n.pitch) for n in task.original()] == kept  # the last note cut at the end
    assert task.original()[-1].end == hi and task.outside()[-1].end == lo
    assert [n.pitch for n in task.outside()] == [50, 51, 52, 53]  # no bar after the hole
    chords = task.piece.tracks[1].notes
    assert [n.pitch for n in chords] == [40, 42]  # its notes in the hole and after: gone
    assert chords[0].end == 10.0 and chords[1].end == lo  # bar 3's ends where the clip does
    for seed in range(6):  # the part's own other bars: bars before the hole only
        out = baselines.other_bars(task, np.random.default_rng(seed))
        assert {n.pitch - 50 for n in out} <= {0, 1, 2, 3}


def test_compare_continues_the_part_from_a_piece_that_ends_at_the_hole(engine, monkeypatch):
    """The server is asked what a DAW's continue sends: the piece up to the hole's first bar,
    the task's track continued by the hole's bars."""
    asked = []
    real = compare.generate

    def spy(engine, piece, request):
        asked.append((piece, request))
        return real(engine, piece, request)

    monkeypatch.setattr(compare, "generate", spy)
    items = [("test/0#x", piece_of(bars_of(PATTERN, 12), bars_of(PATTERN, 12, -12)))]
    options = SamplingOptions(max_bar_tokens=24)
    report = compare.run(engine, items, 1, 1, engine.vocab, options, mode="continue")
    assert report["mode"] == "continue" and report["generations"] == 1
    ((piece, request),) = asked
    (where,) = [(r["bars"], r["track"]) for r in report["records"][compare.MODEL]]
    first, last = where[0][0], where[0][-1]
    assert request.mode == "continue" and request.new_bars == 4 and last == first + 3
    assert [(s.track, s.first_bar, s.last_bar) for s in request.selection] == [
        (where[1], first, last)
    ]
    assert piece.end == 4.0 * first and len(piece.bars()) == first  # nothing from the hole on
    assert all(n.start < 4.0 * first for t in piece.tracks for n in t.notes)
    (shown,) = report["context_records"]
    assert shown["context_after"] == shown["context_after_possible"] == 0
    assert report["generators"][compare.MODEL]["notes"] > 0  # it wrote into the hole
