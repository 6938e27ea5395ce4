"""The prompt cache a CPU engine keeps between requests (kvcache.SharedCache).

The promise: a prefill that reuses the kept prompt's cache gives bit for bit the logits a fresh
engine gives, and it does reuse (computes only from the last chunk boundary within the shared
prefix). Checked on the shipped int8 bundle, where exactness is hardest: its matrix products
quantize activations per run, so any difference in how the prompt is split into runs shows up
in the logits.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from midigen.server.engine.generation import BarDone, Done, generate, step_prompts
from midigen.server.engine.kvcache import PREFILL_CHUNK
from midigen.server.engine.session import Engine
from midigen.server.tools.bench_engine import _request, bench_piece

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "midigen-base"


@pytest.fixture(scope="module")
def pair():
    """Two engines on the shipped int8 bundle: one keeps its cache, one is made to forget."""
    return Engine(SHIPPED, device="cpu", threads=1), Engine(SHIPPED, device="cpu", threads=1)


@pytest.fixture(scope="module")
def prompt(pair):
    return step_prompts(pair[0], bench_piece(), _request())[0]


def fresh(engine, prompts, steps=(400, 401, 402)):
    engine.forget()
    return run(engine, prompts, steps)


def run(engine, prompts, steps=(400, 401, 402)):
    """Prefill logits, then the logits of three fed tokens (reads the cache past the prompt)."""
    out = [engine.prefill(prompts)]
    out += [engine.step(np.full(len(prompts), t)) for t in steps]
    return np.stack(out)


def reused(engine):
    return engine.prompt_tokens[1]


def test_a_prompt_sharing_a_prefix_reuses_it_and_gives_the_same_logits(pair, prompt):
    kept, cold = pair
    fresh(kept, [prompt])
    edited = prompt[:-40] + prompt[-45:-40] * 8  # an edit near the end (a later track's bars)
    before = reused(kept)
    got = run(kept, [edited])
    share = len(prompt) - 40
    assert reused(kept) - before == share - share % PREFILL_CHUNK
    np.testing.assert_array_equal(got, fresh(cold, [edited]))


def test_the_same_prompt_again_computes_only_its_last_chunk(pair, prompt):
    kept, cold = pair
    fresh(kept, [prompt])
    before = kept.prompt_tokens
    got = run(kept, [prompt])
    computed, saved = (a - b for a, b in zip(kept.prompt_tokens, before))
    assert computed == len(prompt) - saved and 0 < computed <= PREFILL_CHUNK
    np.testing.assert_array_equal(got, fresh(cold, [prompt]))


def test_a_batch_of_different_prompts_is_not_kept(pair, prompt):
    """Rows run together are computed as one run: row 0's cache is not what a chunked run of
    its prompt gives, so the next prompt must not reuse it."""
    kept, cold = pair
    other = prompt[:-10] + prompt[:10]
    fresh(kept, [prompt])
    run(kept, [prompt, other])
    before = reused(kept)
    got = run(kept, [prompt])
    assert reused(kept) == before
    np.testing.assert_array_equal(got, fresh(cold, [prompt]))


def test_variations_keep_the_prompt_across_batch_sizes(pair, prompt):
    kept, cold = pair
    fresh(kept, [prompt])
    for rows in (3, 1):  # the buffers are reallocated for each batch size
        before = reused(kept)
        got = run(kept, [prompt] * rows)
        assert reused(kept) - before >= len(prompt) - PREFILL_CHUNK
        np.testing.assert_array_equal(got, fresh(cold, [prompt] * rows))


def test_generating_again_writes_what_a_fresh_engine_writes(pair):
    """A musician pressing generate again with the same seed gets the same notes; the second
    press reuses the prompt, and its report says how much of it."""
    kept, cold = pair
    request = replace(_request(), variations=2)

    def notes(engine):
        events = list(generate(engine, bench_piece(), request))
        done = events[-1]
        assert isinstance(done, Done) and done.prompt_tokens > PREFILL_CHUNK
        bars = [(e.variation, e.bar, e.notes) for e in events if isinstance(e, BarDone)]
        return bars, done.reused_tokens, done.prompt_tokens

    kept.forget()
    first, reused_first, n = notes(kept)
    again, reused_again, _ = notes(kept)
    assert reused_first == 0 and n - PREFILL_CHUNK < reused_again < n
    cold.forget()
    assert first == again == notes(cold)[0]
