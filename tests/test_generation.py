"""generate(): infill, continue, loop and variations on a tiny random bundle and real MIDI files.

A random model writes musical nonsense, but through the grammar it must still write exactly the
requested bars, inside them, within the hard limits, reproducibly, and stop when cancelled.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tiny_bundle
from midigen.server.engine import decoding, prompts
from midigen.server.engine.generation import (
    BarDone,
    Done,
    GenerationError,
    Progress,
    Request,
    generate,
)
from midigen.server.engine.sampling import SamplingOptions
from midigen.server.language.controls import (
    Controls,
    density_level,
    duration_class,
    sounding_counts,
)
from midigen.server.language.grid import window_from_piece
from midigen.server.language.midifiles import read_midi
from midigen.server.language.piece import Note, Piece, TimeSignature, Track
from midigen.server.language.windows import Selection

FAST = SamplingOptions(seed=1, max_bar_tokens=40)


@pytest.fixture(scope="module")
def engine(both_engines):
    """Every generation test runs on both kinds of KV cache (retries rewind rows differently)."""
    return both_engines


@pytest.fixture(scope="module")
def bmw():
    return read_midi(tiny_bundle.MIDI / "prompt_bmw.mid")  # 8 bars: bass, solo, drums


def run(engine, piece, **kw):
    kw.setdefault("sampling", FAST)
    events = list(generate(engine, piece, Request(**kw)))
    assert isinstance(events[-1], Done) and not any(isinstance(e, Done) for e in events[:-1])
    return [e for e in events if isinstance(e, BarDone)], events[-1], events


def cells(selection):
    return {(s.track, b) for s in selection for b in range(s.first_bar, s.last_bar + 1)}


def in_bar(note, start, end):
    """Bar membership as the token grid sees it: by the onset snapped to 1/12 quarter."""
    return round(start * 12) <= int(note.start * 12 + 0.5) < round(end * 12)


def check_bars(bars, done, selection, variations, original):
    """Exactly one event per selected cell and variation; notes inside their bar; the rest of
    every output piece untouched."""
    want = {(v, t, b) for v in range(variations) for t, b in cells(selection)}
    got = [(e.variation, e.track, e.bar) for e in bars]
    assert sorted(got) == sorted(want)
    grid = done.pieces[0].bars()
    for e in bars:
        assert (e.start, e.end) == (grid[e.bar].start, grid[e.bar].end)
        assert all(e.start - 1e-9 <= n.start < e.end for n in e.notes)
        assert all(n.duration > 0 and 1 <= n.velocity <= 127 for n in e.notes)
        out = done.pieces[e.variation].tracks[e.track].notes
        assert [n for n in out if in_bar(n, e.start, e.end)] == sorted(e.notes)
    old = original.bars()
    for piece in done.pieces:
        assert len(piece.tracks) == len(original.tracks)
        for t, (a, b) in enumerate(zip(original.tracks, piece.tracks)):
            for i, bar in enumerate(old):
                if (t, i) not in cells(selection):
                    inside = [n for n in a.notes if in_bar(n, bar.start, bar.end)]
                    assert inside == [n for n in b.notes if in_bar(n, bar.start, bar.end)]


def test_infill_one_track_with_variations(engine, bmw):
    selection = [Selection(1, 4, 7)]  # `--track 2 --bars 5-8`
    bars, done, events = run(engine, bmw, mode="infill", selection=selection, variations=3)
    check_bars(bars, done, selection, 3, bmw)
    assert not done.cancelled and done.seed == 1 and done.first_bar_ms is not None
    assert done.model_steps < done.tokens / 2  # three rows per step, not three runs
    progress = [e.step for e in events if isinstance(e, Progress)]
    assert progress == list(range(len(progress))) and len(progress) == 2  # W=4: 2 bars a step
    assert len({tuple(e.notes) for e in bars if e.bar == 4}) > 1  # the variations differ


def test_infill_several_tracks_and_bars_with_hard_limits(engine):
    piece = read_midi(tiny_bundle.MIDI / "prompt_bach.mid")  # four string parts
    selection = [Selection(0, 1, 3), Selection(2, 1, 3), Selection(3, 0, 5)]
    limits = Controls(poly_max=2, dur_max=3)
    controls = {0: limits, 2: limits, 3: Controls(poly_max=1, dur_min=2)}
    bars, done, _ = run(
        engine, piece, mode="infill", selection=selection, controls=controls,
        sampling=SamplingOptions(seed=3, max_bar_tokens=60, temperature=1.3),
    )  # fmt: skip
    check_bars(bars, done, selection, 1, piece)
    vocab = engine.vocab
    out = done.pieces[0]
    window = window_from_piece(out, vocab, list(range(len(out.bars()))))
    ticks = window.bar_ticks(vocab)
    starts = np.cumsum([0, *ticks])
    for t, c in controls.items():
        counts = sounding_counts(window.tracks[t], ticks)
        for b in {b for tt, b in cells(selection) if tt == t}:
            assert counts[starts[b] : starts[b + 1]].max(initial=0) <= c.poly_max
            for n in window.tracks[t].bars[b]:
                cls = duration_class(n.duration)
                assert (c.dur_min or 0) <= cls <= (5 if c.dur_max is None else c.dur_max)
    assert sum(len(e.notes) for e in bars) > 0


def test_same_seed_same_notes(engine, bmw):
    def notes(seed):
        kw = dict(mode="infill", selection=[Selection(0, 2, 3)], variations=2)
        bars, _, _ = run(engine, bmw, sampling=SamplingOptions(seed=seed, max_bar_tokens=40), **kw)
        return [(e.variation, e.bar, e.notes) for e in bars]

    assert notes(11) == notes(11)
    assert notes(11) != notes(12)


def test_continue_adds_exactly_the_new_bars(engine, bmw):
    selection = [Selection(0, 8, 11), Selection(2, 8, 11)]
    bars, done, _ = run(engine, bmw, mode="continue", selection=selection, new_bars=4)
    check_bars(bars, done, selection, 1, bmw)
    out = done.pieces[0]
    assert len(out.bars()) == 12 and out.end >= 48.0
    assert not [n for n in out.tracks[1].notes if n.start >= 32.0]  # the solo stays silent
    for track in (0, 2):  # each track's new bars arrive in order, each once
        assert [e.bar for e in bars if e.track == track] == [8, 9, 10, 11]


@pytest.mark.parametrize("meter", [(6, 4), (2, 4)])
def test_continue_takes_the_meter_the_file_sets_after_its_end(engine, meter):
    """A MIDI file may change the meter where its notes stop: the new bars take that meter and
    are exactly as many as asked (sized by the last bar's 4/4, a 6/4 change crashed writing
    the last bar, and a 2/4 one left empty bars at the end)."""
    notes = [Note(float(q), 60 + q % 4, 1.0, 80) for q in range(16)]
    changes = [(0.0, TimeSignature(4, 4)), (16.0, TimeSignature(*meter))]
    piece = Piece([Track(0, False, "p", notes)], changes, length=16.0)
    bars, done, _ = run(engine, piece, mode="continue", selection=[Selection(0, 4, 6)], new_bars=3)
    grid = done.pieces[0].bars()
    quarters = 4.0 * meter[0] / meter[1]
    assert len(grid) == 7 and [b.length for b in grid[4:]] == [quarters] * 3
    assert [(e.bar, e.start) for e in bars] == [(4 + i, 16.0 + i * quarters) for i in range(3)]


def test_loop_fills_the_range_and_leads_back(engine, bmw):
    selection = [Selection(0, 2, 5), Selection(1, 2, 5)]  # 4 bars, two steps with window 4
    bars, done, events = run(engine, bmw, mode="loop", selection=selection, variations=2)
    check_bars(bars, done, selection, 2, bmw)
    assert sum(isinstance(e, Progress) for e in events) >= 2


def test_bars_stream_before_generation_ends(engine, bmw):
    events = generate(engine, bmw, Request("infill", [Selection(2, 0, 3)], sampling=FAST))
    steps0 = engine.steps
    first = next(e for e in events if isinstance(e, BarDone))
    at_first = engine.steps
    rest = list(events)
    assert first.bar == 0 and at_first < engine.steps  # more model steps came after the first bar
    assert sum(isinstance(e, BarDone) for e in rest) == 3 and steps0 < at_first


def test_cancel_stops_within_one_step(engine, bmw):
    cancel = threading.Event()
    events = generate(
        engine, bmw, Request("infill", [Selection(1, 0, 7)], variations=2, sampling=FAST), cancel
    )
    seen = []
    for e in events:
        seen.append(e)
        if isinstance(e, BarDone):
            cancel.set()
            at_cancel = engine.steps
            break
    rest = list(events)
    assert engine.steps <= at_cancel + 1
    assert isinstance(rest[-1], Done) and rest[-1].cancelled
    assert not any(isinstance(e, BarDone) for e in rest[:-1]) or engine.steps == at_cancel + 1


def test_empty_bars_are_resampled_with_more_temperature(engine, bmw, monkeypatch):
    """Force every first attempt at a bar to close at once: the bass's density asks for notes,
    so each bar is resampled, at a higher temperature."""
    real, runs, temps = decoding.sample, [], []
    fill, fill_end = engine.vocab.special("<fill>"), engine.vocab.special("<fill_end>")

    def sample(logits, masks, temperatures, options, rngs):
        out = real(logits, masks, temperatures, options, rngs)
        temps.append(float(temperatures[0]))
        history = runs[-1].history[0]
        if temperatures[0] == options.temperature and history and history[-1] == fill:
            out[0] = fill_end  # an empty bar
        return out

    init = decoding.StepDecoder.__init__

    def spy_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        runs.append(self)

    monkeypatch.setattr(decoding, "sample", sample)
    monkeypatch.setattr(decoding.StepDecoder, "__init__", spy_init)
    bars, done, _ = run(engine, bmw, mode="infill", selection=[Selection(0, 1, 2)])
    assert [e.attempts >= 2 for e in bars] == [True, True] and done.retries >= 2
    assert all(e.notes for e in bars)
    assert max(temps) == pytest.approx(1.1) or max(temps) > 1.1


def test_velocity_off_takes_the_tracks_context_velocity(engine, bmw):
    bars, done, _ = run(engine, bmw, mode="infill", selection=[Selection(0, 6, 7)], velocity=False)
    outside = [n.velocity for n in bmw.tracks[0].notes if n.start < 24.0]
    written = {n.velocity for e in bars for n in e.notes}
    assert written == {round(sum(outside) / len(outside))}  # not empty: a subset of nothing holds


def test_bad_requests(engine, bmw):
    with pytest.raises(GenerationError, match="out of range"):
        list(generate(engine, bmw, Request("infill", [Selection(0, 6, 9)])))
    with pytest.raises(GenerationError, match="variations"):
        list(generate(engine, bmw, Request("infill", [Selection(0, 1, 1)], variations=0)))
    with pytest.raises(GenerationError, match="new bars must be 0..64, got 65"):
        list(generate(engine, bmw, Request("continue", [Selection(0, 8, 8)], new_bars=65)))
    with pytest.raises(GenerationError, match="density"):
        req = Request("infill", [Selection(0, 1, 1)], controls={0: Controls(density=11)})
        list(generate(engine, bmw, req))


@pytest.mark.parametrize("level", [1, 3, 6, 9])
def test_density_is_steered_into_its_band(engine, bmw, level):
    """Even a random model's bars land within one density level of the request: the decoder
    refuses to end a bar below the band (or to start so late that the missing notes cannot
    follow) and to start a note above it. Exact wherever the hard limits leave room, so here
    they are opened: under a polyphony limit, long notes can fill a bar before the band's
    count is reached, and then the bar ends short (the grammar's limits come first)."""
    controls = {1: Controls(density=level, poly_max=10, dur_min=0, dur_max=5)}
    bars, _, _ = run(engine, bmw, mode="infill", selection=[Selection(1, 2, 5)],
                     controls=controls)  # fmt: skip
    lo, hi = prompts.density_band(engine.vocab, level, is_drum=False)
    assert lo <= len(bars[0].notes) and len(bars) == 4
    for e in bars:
        assert lo <= len(e.notes) and (hi is None or len(e.notes) <= hi), (level, e.notes)
        level_here = density_level(engine.vocab, len(e.notes), False)
        assert abs(level_here - level) <= 1


@pytest.mark.parametrize("level", [5, 7, 9])
def test_density_is_steered_into_its_band_under_one_voice(engine, bmw, level):
    """Under poly_max 1 a random model's long notes used to fill a bar before the band was
    reached (1-5 notes where 8 were asked): one-voice notes are now kept short enough for the
    notes still wanted, and ring into the next selected bar only as far as its band allows."""
    controls = {1: Controls(density=level, poly_max=1, dur_min=0, dur_max=5)}
    lo, hi = prompts.density_band(engine.vocab, level, is_drum=False)
    for seed in range(3):
        bars, _, _ = run(engine, bmw, mode="infill", selection=[Selection(1, 2, 5)],
                         controls=controls, sampling=SamplingOptions(seed=seed))  # fmt: skip
        counts = [len(e.notes) for e in bars]
        assert all(lo <= n and (hi is None or n <= hi) for n in counts), (seed, counts)


def test_a_bar_behind_its_band_does_not_end_where_the_band_cannot_be_reached(engine, monkeypatch):
    """A context note rings into the selected bar under poly_max 1, so the notes the band wants
    no longer fit in 16ths: a model that always wants to end the bar still writes notes up to
    the band (in the beat left after the ringing note) rather than an empty bar."""
    from midigen.server.language.piece import Note, Piece, TimeSignature, Track

    fill_end = engine.vocab.special("<fill_end>")

    def eager(logits, masks, temperatures, options, rngs):
        # end the bar when allowed, else the lowest legal token (earliest position, lowest
        # pitch, shortest note)
        return np.array([-1 if m is None else (fill_end if m[fill_end] else int(np.argmax(m)))
                         for m in masks])  # fmt: skip

    monkeypatch.setattr(decoding, "sample", eager)
    notes = [Note(0, 60, 1), Note(1, 62, 1), Note(2, 64, 1), Note(3, 65, 4.0)]  # to beat 4, bar 2
    notes += [Note(8 + i, 67, 1) for i in range(8)]
    piece = Piece([Track(73, False, "flute", notes)], [(0.0, TimeSignature(4, 4))], length=16)
    controls = {0: Controls(density=8, poly_max=1, dur_min=0, dur_max=5)}
    bars, _, _ = run(engine, piece, mode="infill", selection=[Selection(0, 1, 1)],
                     controls=controls)  # fmt: skip
    lo, _ = prompts.density_band(engine.vocab, 8, is_drum=False)
    written = bars[0].notes
    assert len(written) == lo and all(n.start >= 7 for n in written)


def test_density_bands_cover_one_level_either_side(engine):
    vocab = engine.vocab
    for drum in (False, True):
        for level in range(1, 11):
            lo, hi = prompts.density_band(vocab, level, drum)
            assert abs(density_level(vocab, lo, drum) - level) <= 1
            assert lo == 0 or abs(density_level(vocab, lo - 1, drum) - level) > 1
            if hi is not None:
                assert abs(density_level(vocab, hi, drum) - level) <= 1
                assert abs(density_level(vocab, hi + 1, drum) - level) > 1
