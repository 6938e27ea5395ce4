"""A tiny random GPT-2 exported with the project's exporter, shared by the engine tests.

A random model plus the grammar still writes valid bars, which is what engine, generation and
CLI tests check (counts, placement, hard limits, seeds, cancellation), so no trained model is
needed. Built once per test session under pytest's base temp folder.
"""

from __future__ import annotations

from pathlib import Path

from midigen.server.language import vocab as vocab_module

MIDI = Path(__file__).resolve().parents[2] / "shared" / "midi"
WINDOW_BARS = 4
MAX_TRACKS = 4


def build(root: Path, optimize: bool = True) -> Path:
    """The bundle folder under root (reused when a test module already built it): the fused
    graph with its shared cache, as shipped bundles are, or with optimize=False the traced
    graph with its growing cache, from the same weights."""
    bundle = root / ("tiny-bundle" if optimize else "tiny-bundle-traced")
    if (bundle / "midigen.json").is_file():
        return bundle
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from midigen.exporter.cli import main

    threads = torch.get_num_threads()
    src = root / "tiny-src"
    if not (src / "config.json").is_file():
        torch.manual_seed(0)
        config = GPT2Config(
            vocab_size=len(vocab_module.load()), n_positions=1024, n_embd=32, n_layer=2,
            n_head=4, midigen_window_bars=WINDOW_BARS, midigen_max_tracks=MAX_TRACKS,
        )  # fmt: skip
        GPT2LMHeadModel(config).save_pretrained(src)
    args = [str(src), "-o", str(bundle), "-q", "--threads", "1"] + ["--optimize"] * optimize
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    return bundle
