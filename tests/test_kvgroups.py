"""Grouped key/value heads (exporter/kvgroups.py): the averaging that groups a trained model, the
checkpoint that keeps it, the fused bundle with the narrow cache, the engine and the training
run that read them. Models are tiny and random (wide init, so logits are peaked)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from midigen.exporter import kvgroups  # noqa: E402
from midigen.exporter.bundle import load_bundle  # noqa: E402
from midigen.exporter.cli import main as export_main  # noqa: E402
from midigen.server.engine.session import Engine  # noqa: E402
from midigen.server.language import vocab as vocab_mod  # noqa: E402

VOCAB = vocab_mod.default()
HEADS, WIDTH = 4, 32
D = WIDTH // HEADS


def _model(seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(VOCAB), n_positions=128, n_embd=WIDTH, n_layer=2,
                        n_head=HEADS, initializer_range=0.2)  # fmt: skip
    return GPT2LMHeadModel(config).eval()


def _logits(model, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(ids)).logits.numpy()


def _heads(t: torch.Tensor) -> torch.Tensor:
    """The last axis of a K or V projection (weight or bias) split into (heads, head_dim)."""
    return t.unflatten(-1, (HEADS, D))


@pytest.mark.parametrize("kv", [1, 2])
def test_grouping_a_model_whose_heads_already_agree_changes_nothing(kv):
    """When the heads of each group already have the same key and value projections, their
    average is that projection, so the grouped model must give the same logits: this fails if
    the average or the repetition pairs up the wrong heads (1 group cannot tell, 2 can)."""
    model = _model()
    groups = HEADS // kv
    with torch.no_grad():
        for block in model.transformer.h:
            for t in (block.attn.c_attn.weight, block.attn.c_attn.bias):
                for part in (slice(WIDTH, 2 * WIDTH), slice(2 * WIDTH, 3 * WIDTH)):
                    heads = _heads(t[..., part])
                    for g in range(kv):  # every head of group g copies the group's first head
                        first = heads[..., g * groups, :].clone()
                        for h in range(g * groups, (g + 1) * groups):
                            heads[..., h, :] = first
                    t[..., part] = heads.flatten(-2)
    ids = np.random.default_rng(0).integers(0, len(VOCAB), (2, 12))
    before = _logits(model, ids)
    kvgroups.group(model, kv)
    assert kvgroups.kv_heads(model.config) == kv
    assert model.transformer.h[0].attn.c_attn.weight.shape == (WIDTH, WIDTH + 2 * kv * D)
    np.testing.assert_allclose(_logits(model, ids), before, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="already grouped"):
        kvgroups.group(model, 1)


def test_grouping_averages_each_groups_projections():
    model = _model()
    old = model.transformer.h[1].attn.c_attn.weight.detach().clone()
    kvgroups.group(model, 2)
    new = model.transformer.h[1].attn.c_attn.weight.detach()
    assert torch.equal(new[:, :WIDTH], old[:, :WIDTH])  # queries untouched
    keys = _heads(old[:, WIDTH : 2 * WIDTH])
    assert torch.allclose(new[:, WIDTH : WIDTH + D], keys[:, 0:2].mean(1))
    assert torch.allclose(new[:, WIDTH + D : WIDTH + 2 * D], keys[:, 2:4].mean(1))
    values = _heads(old[:, 2 * WIDTH :])
    expected = torch.cat([values[:, 0:2].mean(1), values[:, 2:4].mean(1)], dim=1)
    assert torch.allclose(new[:, WIDTH + 2 * D :], expected)
    with pytest.raises(ValueError, match="do not split"):
        kvgroups.group(_model(), 3)


def test_the_ungrouped_weights_compute_the_same_function():
    """What the bench loads into midigpt's GPT-2 (no grouped heads): a plain GPT2 with each
    key/value head repeated over its group must give the grouped model's logits."""
    grouped = kvgroups.group(_model(seed=5), 2)
    plain = _model(seed=6)
    plain.load_state_dict(kvgroups.ungrouped_state(grouped))
    ids = np.random.default_rng(1).integers(0, len(VOCAB), (2, 16))
    np.testing.assert_allclose(_logits(plain, ids), _logits(grouped, ids), atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """A one-group (multi-query) checkpoint folder, as train.py writes it, and its model."""
    from training.checkpoints import save

    root = tmp_path_factory.mktemp("grouped")
    model = kvgroups.group(_model(seed=3), 1)
    save(model, root / "ckpt", VOCAB)
    return root, model


def _export(src, out, *flags) -> dict:
    code = export_main([str(src), "-o", str(out), "-q", "--threads", "1", *flags])
    assert code in (0, None)
    return load_bundle(out).meta


def test_a_grouped_checkpoint_loads_as_it_was_saved(grouped):
    root, model = grouped
    config = json.loads((root / "ckpt" / "config.json").read_text())
    assert config[kvgroups.CONFIG_KEY] == 1
    again = kvgroups.load(root / "ckpt")
    ids = np.arange(40, 60)[None]
    np.testing.assert_allclose(_logits(again, ids), _logits(model, ids), atol=1e-6, rtol=0)


def test_the_fused_bundle_keeps_one_cache_head_and_matches_torch(grouped):
    """The fused graph caches one head (a quarter of the traced graph's), parity holds after
    the export and the optimisation, and the engine's prefill and steps give torch's logits."""
    root, model = grouped
    meta = _export(root / "ckpt", root / "fused", "--optimize")
    assert meta["kv_heads"] == 1 and meta["heads"] == HEADS and meta["kv_cache"] == "shared"
    assert meta["io"]["inputs"]["past_key_values.0.key"]["shape"][1] == 1
    for stage in ("export", "optimize", "prefill"):
        report = meta["parity"][stage]
        assert report["passed"] and report["greedy_identical"], stage
        assert report["max_abs_logit_diff"] <= 1e-4, stage
    engine = Engine(root / "fused", device="cpu", threads=1)
    prompt = [VOCAB.special("<piece>"), *range(20, 50)]
    tokens = list(prompt)
    logits = engine.prefill([prompt])
    for _ in range(6):
        expected = _logits(model, np.array([tokens]))[0, -1]
        np.testing.assert_allclose(logits[0], expected, atol=1e-4, rtol=0)
        nxt = int(np.argmax(expected))
        tokens.append(nxt)
        logits = engine.step(np.array([nxt]))
    # the traced graph caches every head repeated, as torch does
    traced = _export(root / "ckpt", root / "traced")
    assert traced["kv_heads"] == HEADS and traced["kv_cache"] == "growing"


def test_a_grouped_fp32_bundle_rebuilds_its_checkpoint(grouped):
    """train.py --init takes a shipped fp32 bundle by rebuilding its weights: a grouped one
    comes back grouped, with the bundle's logits."""
    from training.checkpoints import hf_from_bundle

    root, model = grouped
    if not (root / "fused").exists():
        _export(root / "ckpt", root / "fused", "--optimize")
    rebuilt = kvgroups.load(hf_from_bundle(root / "fused", root / "rebuilt"))
    assert kvgroups.kv_heads(rebuilt.config) == 1
    ids = np.arange(60, 90)[None]
    np.testing.assert_allclose(_logits(rebuilt, ids), _logits(model, ids), atol=1e-5, rtol=0)


def test_training_groups_a_warm_start_and_resumes_it(tmp_path):
    from test_training import PIECES, TINY

    from training import dataset as ds
    from training import train
    from training.checkpoints import save

    four = [*TINY, "--heads", "4"]  # argparse keeps the last
    save(_model_for_training(), tmp_path / "mha", VOCAB)
    source = ds.list_pieces(PIECES)
    out = tmp_path / "run"
    args = ["--out", str(out), "--max-steps", "1", "--init", str(tmp_path / "mha"),
            "--kv-heads", "2", *four]  # fmt: skip
    train.run(train.parse_args(args), source, source)
    assert json.loads((out / "last" / "config.json").read_text())[kvgroups.CONFIG_KEY] == 2
    resumed = train.run(train.parse_args(["--out", str(out), "--max-steps", "2", "--resume",
                                          *four]), source, source)  # fmt: skip
    assert resumed["step"] == 2
    assert kvgroups.kv_heads(kvgroups.load(out / "last").config) == 2
    with pytest.raises(SystemExit, match="resume without --kv-heads"):
        train.run(train.parse_args(["--out", str(out), "--max-steps", "3", "--resume",
                                    "--kv-heads", "1", *four]), source, source)  # fmt: skip
    with pytest.raises(SystemExit, match="do not split"):
        bad = ["--out", str(tmp_path / "r2"), "--max-steps", "1", "--init",
               str(tmp_path / "mha"), "--kv-heads", "3", *four]  # fmt: skip
        train.run(train.parse_args(bad), source, source)


def _model_for_training():
    """A 4-head model in the shape test_training's TINY arguments give (2 x 32, 512 context)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(VOCAB), n_positions=512, n_embd=32, n_layer=2, n_head=4,
                        bos_token_id=VOCAB.special("<piece>"), eos_token_id=VOCAB.special("<end>"),
                        pad_token_id=VOCAB.special("<pad>"))  # fmt: skip
    return GPT2LMHeadModel(config)


def test_a_lightning_checkpoint_of_a_grouped_model_exports_grouped(grouped, tmp_path):
    """The same grouped model saved by Lightning (HF layout under `model.`, config in the
    hyper-parameters) loads with its narrow projections and exports a one-head cache."""
    root, model = grouped
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    hparams = {"config": model.config.to_dict()}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, tmp_path / "last.ckpt")
    meta = _export(tmp_path / "last.ckpt", tmp_path / "b", "--optimize")
    assert meta["kv_heads"] == 1 and meta["parity"]["optimize"]["passed"]
