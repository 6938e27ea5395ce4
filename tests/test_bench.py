"""midigen-bench's model of a decode step: the FLOP count behind its compute roofline is what
torch actually executes for one GPT-2 decode step, and its options fail clearly."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from midigen.server.tools.bench import main  # noqa: E402
from midigen.server.tools.bench_engine import decode_flops  # noqa: E402


@pytest.mark.parametrize("past, kv_heads", [(0, 4), (37, 4), (300, 4), (37, 1), (300, 2)])
def test_decode_flops_counts_what_torch_runs(past, kv_heads):
    """With grouped key/value heads (exporter/kvgroups.py) the projection is narrower and the
    attention the same: torch's count of the grouped model checks both."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import GPT2Config, GPT2LMHeadModel

    from midigen.exporter import kvgroups

    config = GPT2Config(vocab_size=519, n_positions=512, n_embd=64, n_layer=3, n_head=4)
    config._attn_implementation = "eager"  # attention as matmuls, which the counter sees
    model = kvgroups.group(GPT2LMHeadModel(config).eval(), kv_heads)
    meta = {"hidden_size": 64, "layers": 3, "embedding_rows": 519, "heads": 4,
            "kv_heads": kv_heads, "head_dim": 16}  # fmt: skip
    with torch.no_grad():
        cache = model(torch.zeros(1, past + 1, dtype=torch.long)).past_key_values if past else None
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 1, dtype=torch.long), past_key_values=cache)
    counted = counter.get_total_flops()
    assert abs(decode_flops(meta, past) - counted) / counted < 0.02, (
        decode_flops(meta, past),
        counted,
    )


def test_int8_needs_a_model(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--only", "engine", "--int8", "x"])
    assert stop.value.code == 2
    assert (
        "--int8 measures a bundle's int8 export beside it: give --model too"
        in capsys.readouterr().err
    )


def test_alternating_ratio_takes_turns_and_the_median():
    """Each side goes first every other turn, and the figure is the median of the per-turn
    ratios, so one slow spell (the 4x turn) moves neither the figure nor the order."""
    from midigen.server.tools.timing import alternating_ratio

    order: list[str] = []
    ours_ms, theirs_ms = iter([1.0, 1.0, 2.0, 1.0, 1.0]), iter([5.0, 6.0, 8.0, 20.0, 5.5])

    def ours() -> float:
        order.append("ours")
        return next(ours_ms)

    def theirs() -> float:
        order.append("theirs")
        return next(theirs_ms)

    turns = alternating_ratio(ours, theirs, rounds=5)
    assert order == ["ours", "theirs", "theirs", "ours"] * 2 + ["ours", "theirs"]
    assert turns == {"median": 5.5, "min": 4.0, "max": 20.0, "rounds": 5.0}


def test_measure_model_times_midigpt_in_turns_against_int8(bundle, monkeypatch):
    """The whole per-model measurement with midigpt present (here a stand-in stepper that
    takes 4 ms a token): the int8 comparison comes back as the turns' median and range."""
    import time

    from midigen.server.tools import bench_engine

    def stepper(source, prompt):
        def prefill() -> object:
            return None

        def step(past: object, tok: int) -> object:
            time.sleep(0.004)
            return past

        return prefill, step

    monkeypatch.setattr(bench_engine, "midigpt_stepper", stepper)
    out = bench_engine.measure_model(bundle, 1e10, int8=bundle)
    assert out["midigpt_torch.decode_ms_per_token"] >= 4.0
    key = "onnxruntime_int8.speedup_vs_midigpt_alternating_"
    assert out[key + "rounds"] == 8.0
    assert out[key + "min"] <= out[key + "median"] <= out[key + "max"]
    assert out[key + "median"] > 1.0  # the tiny model steps far faster than 4 ms
