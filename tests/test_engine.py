"""Engine (ONNX Runtime + KV cache) and sampling, on a tiny random bundle.

The cache tricks (shared prefill, left padding, masked-out retries) are checked against the plain
answer: the same session run on the whole sequence at once, without a cache.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import tiny_bundle
from midigen.exporter.bundle import load_bundle
from midigen.server.engine import session as engine_mod
from midigen.server.engine.sampling import SamplingOptions, generators, sample, sample_row
from midigen.server.engine.session import Engine, EngineError, choose_providers


@pytest.fixture(params=["shared", "growing"])
def engine(request, bundle, traced_bundle):
    """A fresh engine per test, on each kind of KV cache."""
    path = bundle if request.param == "shared" else traced_bundle
    return Engine(path, device="cpu", threads=1)


def full_logits(engine, ids):
    """Last-position logits of the whole sequence, no cache, from the traced graph of the same
    weights (whichever engine is under test): the reference."""
    n = len(ids)
    empty = np.zeros((1, engine.kv_heads, 0, engine.head_dim), np.float32)
    feed = {
        "input_ids": np.array([ids], np.int64),
        "attention_mask": np.ones((1, n), np.int64),
        "position_ids": np.arange(n, dtype=np.int64)[None],
    }
    feed.update({name: empty for name in engine.past_names})
    return _traced_session(engine).run(["logits"], feed)[0][0, -1]


def _traced_session(engine):
    if engine.bundle.kv_cache == "growing":
        return engine.session
    return _session(tiny_bundle.build(engine.bundle.path.parent, optimize=False))


@functools.cache
def _session(path):
    return load_bundle(path).session()


PROMPT = [int(x) for x in np.random.default_rng(0).integers(0, 514, 40)]


def test_prefill_then_steps_match_full_recompute(engine):
    logits = engine.prefill([PROMPT])
    np.testing.assert_allclose(logits[0], full_logits(engine, PROMPT), atol=1e-4)
    seq = list(PROMPT)
    for tok in (7, 300, 12, 99):
        logits = engine.step(np.array([tok]))
        seq.append(tok)
        np.testing.assert_allclose(logits[0], full_logits(engine, seq), atol=1e-4)
    assert engine.length == len(seq) and engine.positions().tolist() == [len(seq)]


def test_shared_prefill_runs_once_and_rows_evolve_independently(engine):
    before = engine.steps
    logits = engine.prefill([PROMPT] * 3)
    assert engine.steps == before + 1  # one batch-1 prefill for three variations
    assert logits.shape[0] == 3 and np.allclose(logits[0], logits[2])
    out = engine.step(np.array([5, 6, 7]))
    for row, tok in enumerate((5, 6, 7)):
        np.testing.assert_allclose(out[row], full_logits(engine, PROMPT + [tok]), atol=1e-4)


def test_prompts_of_different_lengths_match_unpadded(engine):
    short = PROMPT[15:]
    logits = engine.prefill([short, PROMPT])
    np.testing.assert_allclose(logits[0], full_logits(engine, short), atol=1e-4)
    np.testing.assert_allclose(logits[1], full_logits(engine, PROMPT), atol=1e-4)
    out = engine.step(np.array([3, 4]))
    np.testing.assert_allclose(out[0], full_logits(engine, short + [3]), atol=1e-4)
    np.testing.assert_allclose(out[1], full_logits(engine, PROMPT + [4]), atol=1e-4)


def test_rewind_and_inactive_rows_hide_tokens_from_the_model(engine):
    engine.prefill([PROMPT, PROMPT])
    mark = engine.mark(1)
    engine.step(np.array([10, 200]))
    engine.step(np.array([11, 201]))  # row 1 rejects these two tokens
    engine.rewind(1, mark)
    engine.step(np.array([12, 0]), active=np.array([True, False]))  # row 1 sits a step out
    out = engine.step(np.array([13, 10]))
    np.testing.assert_allclose(out[0], full_logits(engine, PROMPT + [10, 11, 12, 13]), atol=1e-4)
    np.testing.assert_allclose(out[1], full_logits(engine, PROMPT + [10]), atol=1e-4)
    assert engine.positions().tolist() == [len(PROMPT) + 4, len(PROMPT) + 1]


def test_context_limits(engine):
    with pytest.raises(EngineError, match="context"):
        engine.prefill([[1] * engine.context_length])
    engine.prefill([[1] * (engine.context_length - 2)])
    engine.step(np.array([1]))
    engine.step(np.array([1]))
    assert engine.room() == 0
    with pytest.raises(EngineError, match="full"):
        engine.step(np.array([1]))


def _with_norm_epsilon(bundle, dest, graph_file, eps):
    """A copy of the bundle whose `graph_file` normalizes with epsilon `eps` (a visibly
    different model): which graph computed a result then shows in the logits."""
    import shutil

    import onnx

    shutil.copytree(bundle, dest)
    model = onnx.load(str(dest / graph_file), load_external_data=False)
    for node in model.graph.node:
        for a in node.attribute:
            if a.name == "epsilon":
                a.f = eps
    onnx.save_model(model, str(dest / graph_file))
    return dest


def test_prompts_run_through_the_prefill_twin_and_steps_through_the_model(bundle, tmp_path):
    """The shared-cache engine prefills with prefill.onnx and steps with model.onnx: spoiling
    one graph spoils only the logits that graph computes."""
    reference = Engine(bundle, device="cpu", threads=1)
    assert reference.prefill_session is not reference.session
    want = reference.prefill([PROMPT, PROMPT[:30]])
    want_step = reference.step(np.array([7, 8]))

    spoilt_prefill = Engine(_with_norm_epsilon(bundle, tmp_path / "a", "prefill.onnx", 10.0),
                            device="cpu", threads=1)  # fmt: skip
    got = spoilt_prefill.prefill([PROMPT, PROMPT[:30]])  # different prompts: one padded run
    assert np.abs(got - want).max() > 0.01
    got = spoilt_prefill.prefill([PROMPT] * 2)  # equal prompts: row 0 in chunks, then copied
    assert np.abs(got - want[0]).max() > 0.01

    spoilt_model = Engine(_with_norm_epsilon(bundle, tmp_path / "b", "model.onnx", 10.0),
                          device="cpu", threads=1)  # fmt: skip
    np.testing.assert_allclose(spoilt_model.prefill([PROMPT, PROMPT[:30]]), want, atol=1e-5)
    assert np.abs(spoilt_model.step(np.array([7, 8])) - want_step).max() > 0.01


def test_provider_choice(monkeypatch):
    assert choose_providers("cpu") == (["CPUExecutionProvider"], "asked for --device cpu")
    with pytest.raises(EngineError):
        choose_providers("tpu")
    monkeypatch.setattr(engine_mod, "_gpu_present", lambda: False)
    providers, why = choose_providers("auto")
    assert providers == ["CPUExecutionProvider"] and why


@pytest.mark.skipif(engine_mod._gpu_present(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_a_clear_error(bundle):
    with pytest.raises(EngineError, match="cuda"):
        Engine(bundle, device="cuda")


@pytest.mark.skipif(not engine_mod._gpu_present(), reason="no GPU on this machine")
def test_cuda_io_binding_matches_cpu(traced_bundle):
    gpu, cpu = Engine(traced_bundle, device="cuda"), Engine(traced_bundle, device="cpu", threads=1)
    assert gpu.device == "cuda"
    a, b = gpu.prefill([PROMPT] * 2), cpu.prefill([PROMPT] * 2)
    np.testing.assert_allclose(a, b, atol=1e-3)
    for tok in (5, 6, 7):
        a, b = gpu.step(np.array([tok, tok + 1])), cpu.step(np.array([tok, tok + 1]))
        np.testing.assert_allclose(a, b, atol=1e-3)
    assert gpu._cache.past[0].device_name().lower() == "cuda"  # the cache stayed on the GPU


def test_engine_logs_its_provider(bundle, caplog):
    with caplog.at_level("INFO", logger="midigen.engine"):
        Engine(bundle, device="cpu", threads=1)
    assert "on cpu (asked for --device cpu)" in caplog.text


# -- sampling --------------------------------------------------------------------------------


def test_sampling_respects_the_mask_and_cutoffs():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=50)
    legal = np.zeros(50, bool)
    legal[[3, 10, 20, 30]] = True
    draws = {sample_row(logits, legal, 1.0, 0, 1.0, rng) for _ in range(200)}
    assert draws == {3, 10, 20, 30}
    best = max((3, 10, 20, 30), key=lambda i: logits[i])
    assert sample_row(logits, legal, 0.0, 0, 1.0, rng) == best  # greedy
    assert {sample_row(logits, legal, 1.0, 1, 1.0, rng) for _ in range(20)} == {best}  # top-k 1
    assert {sample_row(logits, legal, 1.0, 0, 1e-6, rng) for _ in range(20)} == {best}  # top-p
    two = {sample_row(logits, legal, 1.0, 2, 1.0, rng) for _ in range(100)}
    assert len(two) == 2 and best in two
    only = np.zeros(50, bool)
    only[7] = True
    assert sample_row(logits, only, 1.0, 0, 1.0, rng) == 7


def test_sampling_is_reproducible_per_variation():
    logits = np.random.default_rng(1).normal(size=(3, 40))
    legal = [np.ones(40, bool), None, np.ones(40, bool)]
    options = SamplingOptions(temperature=1.5)

    def draw(seed, k):
        rngs = generators(seed, k)
        return [sample(logits[:k], legal[:k], [1.5] * k, options, rngs) for _ in range(10)]

    a, b = draw(5, 3), draw(5, 3)
    assert all((x == y).all() for x, y in zip(a, b))
    assert all(x[1] == -1 for x in a)  # a finished row samples nothing
    assert [x[0] for x in draw(5, 1)] == [x[0] for x in a]  # row 0 does not depend on k
    assert [x[0] for x in draw(6, 3)] != [x[0] for x in a]


def test_sampling_draws_what_generator_choice_draws():
    """The sampler's draw replaces Generator.choice(p=...) for speed; seeds reported before
    that (and the model card's numbers) must still give the same notes."""
    for seed in range(300):
        r = np.random.default_rng(seed)
        n = int(r.integers(2, 60))
        logits = r.normal(scale=r.uniform(0.1, 5), size=n)
        legal = r.random(n) < 0.7
        legal[int(r.integers(n))] = True
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(3):
            got = sample_row(logits, legal, 1.0, 0, 1.0, a)
            ids = np.flatnonzero(legal)
            x = logits[ids] - logits[ids].max()
            p = np.exp(x) / np.exp(x).sum()
            want = int(ids[b.choice(len(p), p=p)]) if len(ids) > 1 else int(ids[0])
            assert got == want
        assert a.random() == b.random()  # and the generator's stream moved alike


def test_sampling_options_validate():
    for bad in (
        SamplingOptions(temperature=-1),
        SamplingOptions(top_p=0),
        SamplingOptions(top_k=-1),
        SamplingOptions(max_bar_tokens=2),
    ):
        with pytest.raises(ValueError):
            bad.validate()
