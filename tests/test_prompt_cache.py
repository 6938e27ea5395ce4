"""The prompt caches a CPU engine keeps between requests (kvcache.SharedCache).

The promise: a prefill that starts from a kept prompt's cache gives bit for bit the logits a
fresh engine gives, and it does reuse (computes only from the last chunk boundary within the
shared prefix). Checked on the shipped int8 bundle, where exactness is hardest: its matrix
products quantize activations per run, so any difference in how the prompt is split into runs
shows up in the logits.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from midigen.server.engine.generation import BarDone, Done, generate, step_prompts
from midigen.server.engine.kvcache import KEPT_BYTES, KEPT_PROMPTS, PREFILL_CHUNK
from midigen.server.engine.session import Engine
from midigen.server.language.windows import Selection
from midigen.server.tools.bench_engine import _request, bench_piece

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "midigen-base"


@pytest.fixture(scope="module")
def pair():
    """Two engines on the shipped int8 bundle: one keeps prompts, one is made to forget."""
    return Engine(SHIPPED, device="cpu", threads=1), Engine(SHIPPED, device="cpu", threads=1)


@pytest.fixture(scope="module")
def prompt(pair):
    return step_prompts(pair[0], bench_piece(), _request())[0]


def fresh(engine, prompts, steps=(400, 401, 402)):
    engine.forget()
    return run(engine, prompts, steps)


def run(engine, prompts, steps=(400, 401, 402), keep=False):
    """Prefill logits, then the logits of three fed tokens (reads the cache past the prompt)."""
    out = [engine.prefill(prompts, keep)]
    out += [engine.step(np.full(len(prompts), t)) for t in steps]
    return np.stack(out)


def reused(engine):
    return engine.prompt_tokens[1]


def kept(engine, prompt):
    engine.forget()
    run(engine, [prompt], keep=True)


def test_a_prompt_sharing_a_prefix_reuses_it_and_gives_the_same_logits(pair, prompt):
    engine, cold = pair
    kept(engine, prompt)
    edited = prompt[:-40] + prompt[-45:-40] * 8  # an edit near the end (a later track's bars)
    before = reused(engine)
    got = run(engine, [edited])
    share = len(prompt) - 40
    assert reused(engine) - before == share - share % PREFILL_CHUNK
    np.testing.assert_array_equal(got, fresh(cold, [edited]))


def test_the_same_prompt_again_computes_only_its_last_chunk(pair, prompt):
    engine, cold = pair
    kept(engine, prompt)
    before = engine.prompt_tokens
    got = run(engine, [prompt])
    computed, saved = (a - b for a, b in zip(engine.prompt_tokens, before))
    assert computed == len(prompt) - saved and 0 < computed <= PREFILL_CHUNK
    np.testing.assert_array_equal(got, fresh(cold, [prompt]))


def test_only_prompts_asked_to_be_kept_are_kept(pair, prompt):
    engine, _ = pair
    engine.forget()
    run(engine, [prompt])  # keep=False: a later window step's prompt
    before = reused(engine)
    run(engine, [prompt])
    assert reused(engine) == before


def test_other_runs_in_between_leave_a_kept_prompt_intact(pair, prompt):
    """Later steps, batches of different prompts and other batch sizes all overwrite the
    engine's buffers; the kept copy must not change with them."""
    engine, cold = pair
    kept(engine, prompt)
    other = prompt[:-10] + prompt[:10]
    run(engine, [prompt[::-1]])
    run(engine, [prompt, other])
    for rows in (3, 1):  # the buffers are reallocated for each batch size
        before = reused(engine)
        got = run(engine, [prompt] * rows)
        assert reused(engine) - before >= len(prompt) - PREFILL_CHUNK
        np.testing.assert_array_equal(got, fresh(cold, [prompt] * rows))


def test_the_last_few_prompts_are_kept_the_oldest_dropped(pair, prompt):
    """Two clients (or two tracks) taking turns each find their prompt; one more than the
    engine keeps pushes the oldest out."""
    engine, _ = pair
    engine.forget()
    slots = KEPT_PROMPTS  # the bench prompt's cache is 8 MB: all four fit KEPT_BYTES
    prompts = [[t] + prompt[1:] for t in range(1, slots + 2)]  # differ from token 0
    for p in prompts[:slots]:
        run(engine, [p], keep=True)
    for p in prompts[:slots]:
        before = reused(engine)
        run(engine, [p], keep=True)
        assert reused(engine) > before
    run(engine, [prompts[-1]], keep=True)  # the first (least recently used) goes
    before = reused(engine)
    run(engine, [prompts[0]])
    assert reused(engine) == before


def test_generating_again_writes_what_a_fresh_engine_writes(pair):
    """A musician pressing generate again with the same seed gets the same notes; the second
    press reuses the first window step's prompt, and its report says how much of it. An 8-bar
    selection runs in two window steps, so the kept prompt is not the last one run."""
    engine, cold = pair
    request = replace(_request(), variations=2, selection=[Selection(2, 0, 7)])

    def notes(e):
        events = list(generate(e, bench_piece(), request))
        done = events[-1]
        assert isinstance(done, Done) and done.prompt_tokens > PREFILL_CHUNK
        bars = [(x.variation, x.bar, x.notes) for x in events if isinstance(x, BarDone)]
        return bars, done.reused_tokens, done.prompt_tokens

    assert len(step_prompts(engine, bench_piece(), request)) == 2
    engine.forget()
    first, reused_first, _ = notes(engine)
    again, reused_again, _ = notes(engine)
    first_step = len(step_prompts(engine, bench_piece(), request)[0])
    assert reused_first == 0 and first_step - PREFILL_CHUNK < reused_again < first_step
    cold.forget()
    assert first == again == notes(cold)[0]


class SetAfter:
    """A cancel flag that turns on after `n` looks (the worker sets a job's from another thread
    at any moment; counting looks makes the moment exact)."""

    def __init__(self, n: int):
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_a_cancel_stops_the_prompt_between_chunks_and_keeps_nothing(pair):
    """The worker checks a job's cancel between model steps; the prompt, most of a step's
    time, runs in chunks so a cancel waits for one chunk, not the whole prompt."""
    engine, cold = pair
    engine.forget()
    before = engine.prompt_tokens[0]
    events = list(generate(engine, bench_piece(), _request(), SetAfter(1)))
    assert engine.prompt_tokens[0] - before == PREFILL_CHUNK  # one chunk, then the cancel
    assert len(events) == 2 and events[-1].cancelled  # Progress, then Done: no bar
    nothing_kept = list(generate(engine, bench_piece(), _request()))[-1]
    assert nothing_kept.reused_tokens == 0
    cold.forget()
    assert _notes(nothing_kept) == _notes(list(generate(cold, bench_piece(), _request()))[-1])


def _notes(done):
    return [t.notes for p in done.pieces for t in p.tracks]


def test_kept_prompts_are_as_long_as_the_prompt_and_a_big_model_keeps_fewer(bundle):
    """A kept prompt costs its own length of cache, not the model's context, so a longer context
    keeps as many prompts; a model whose prompts are big (GPT2-small's 1,024-token rows are
    75 MB) keeps fewer within KEPT_BYTES, but always the newest. The oldest one's buffers are
    reused when long enough."""
    from midigen.server.engine.kvcache import SharedCache

    engine = Engine(bundle, device="cpu", threads=1)
    meta = dict(engine.bundle.meta)
    names = engine.past_names
    for heads, context, kept in ((4, 2048, KEPT_PROMPTS), (64, 1024, 1)):
        meta.update(kv_heads=heads, context_length=context, head_dim=64)
        cache = SharedCache(engine.session, meta, names, engine.present_names, "cpu",
                            engine._run)  # fmt: skip
        cache.arrays = [np.full((1, heads, context, 64), float(i), np.float32)
                        for i in range(len(names))]  # fmt: skip
        for t in range(KEPT_PROMPTS + 1):
            cache._keep([t] * 664)
        assert len(cache.kept) == kept and cache.kept[-1][0] == [KEPT_PROMPTS] * 664
        assert cache.kept_bytes() <= KEPT_BYTES or kept == 1
        for i, saved in enumerate(cache.kept[-1][1]):
            assert saved.shape == (heads, 6 * PREFILL_CHUNK, 64)  # 664 rounded up to a chunk
            assert (saved[:, :664] == i).all()
    # 4 x 4 heads x 768 tokens: 7.9 MB per prompt for the tiny model's layers
    assert KEPT_PROMPTS * 4 * len(names) * 4 * 768 * 64 <= KEPT_BYTES
    meta.update(kv_heads=4, context_length=2048, head_dim=64)
    cache = SharedCache(engine.session, meta, names, engine.present_names, "cpu", engine._run)
    cache.arrays = [np.zeros((1, 4, 2048, 64), np.float32) for _ in names]
    for t in range(KEPT_PROMPTS):
        cache._keep([t] * 600)
    oldest = cache.kept[0][1]
    cache._keep([9] * 640)  # fits the oldest's 640 tokens: its buffers are reused
    assert cache.kept[-1][1] is oldest
    cache._keep([8] * 641)  # longer than any freed buffer: new memory
    assert cache.kept[-1][1][0].shape[1] == 6 * PREFILL_CHUNK
