"""midigen-export end to end: each checkpoint kind -> bundle -> ONNX Runtime vs the source model.

Models are tiny and randomly initialised (with a wide init, so logits are peaked like a trained
model's and top-1 comparisons mean something). The nanoGPT reference is a minimal copy of
nanoGPT's model.py, so the checks cover the checkpoint mapping, not just our own HF model.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from midigen.exporter import onnx_export, parity
from midigen.exporter.bundle import BundleError, atomic_folder, load_bundle
from midigen.exporter.checkpoints import CheckpointError, check_vocab_size
from midigen.exporter.cli import main
from midigen.server.language import vocab as vocab_module

VOCAB = len(vocab_module.default())  # 519; nanoGPT-style padding takes it to 576
VOCAB_TOKENS = vocab_module.default().tokens
PADDED = 576

# ---------------------------------------------------------------------------------------------
# minimal nanoGPT (karpathy/nanoGPT model.py, inference parts)


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.n_head, self.n_embd = c["n_head"], c["n_embd"]
        # the non-flash path's mask buffer: it is in every state dict nanoGPT saves without flash
        n = c["block_size"]
        self.register_buffer("bias", torch.tril(torch.ones(n, n)).view(1, 1, n, n))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.gelu = nn.GELU()  # exact GELU, unlike HF GPT2's tanh approximation
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1, self.attn = LayerNorm(c["n_embd"], c["bias"]), CausalSelfAttention(c)
        self.ln_2, self.mlp = LayerNorm(c["n_embd"], c["bias"]), MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
                wpe=nn.Embedding(c["block_size"], c["n_embd"]),
                h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
                ln_f=LayerNorm(c["n_embd"], c["bias"]),
            )
        )
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        for name, p in self.named_parameters():  # wide init: peaked logits, see module doc
            if p.dim() == 2:
                nn.init.normal_(p, std=0.15)
            elif name.endswith("bias"):
                nn.init.normal_(p, std=0.05)

    def forward(self, idx):  # full logits (nanoGPT returns only the last without targets)
        pos = torch.arange(idx.size(1))
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def nano_args(bias):
    return dict(n_layer=2, n_head=4, n_embd=32, block_size=128, bias=bias, vocab_size=PADDED)


# ---------------------------------------------------------------------------------------------
# fixtures: one checkpoint of each kind


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: threads only fight each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
    )

    root = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    out = {}

    gpt2 = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=VOCAB, n_positions=128, n_embd=32, n_layer=2, n_head=4,
            initializer_range=0.2, midigen_window_bars=8,
        )
    )  # fmt: skip
    gpt2.save_pretrained(root / "gpt2")
    out["gpt2"] = (root / "gpt2", gpt2.eval())

    # Mistral with grouped-query attention, on a smaller language given by --vocab
    doc = {**vocab_module.default_document(), "velocity_bins": 8}
    (root / "lang8.json").write_text(vocab_module.Vocabulary(doc).to_json())
    small = len(vocab_module.Vocabulary(doc))
    mistral = MistralForCausalLM(
        MistralConfig(
            vocab_size=small, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
            initializer_range=0.2, sliding_window=None,
        )
    )  # fmt: skip
    mistral.save_pretrained(root / "mistral")
    out["mistral"] = (root / "mistral", mistral.eval())

    llama = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=128,
            initializer_range=0.2, midigen_max_tracks=4,
        )
    )  # fmt: skip
    llama.save_pretrained(root / "llama", safe_serialization=False)  # pytorch_model.bin
    out["llama"] = (root / "llama", llama.eval())
    # the same model trained under Lightning: HF layout under `model.`, config in hparams
    state = {f"model.{k}": v for k, v in llama.state_dict().items()}
    hparams = {"config": llama.config.to_dict(), "lr": 1e-3}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, root / "llama.ckpt")
    out["llama-lightning"] = (root / "llama.ckpt", llama)

    nano = NanoGPT(nano_args(bias=True)).eval()
    checkpoint = {"model": nano.state_dict(), "model_args": nano_args(True), "iter_num": 5}
    torch.save({**checkpoint, "best_val_loss": torch.tensor(2.5), "config": {"lr": 1e-3}},
               root / "nano.pt")  # fmt: skip
    out["nano"] = (root / "nano.pt", nano)

    inner = NanoGPT(nano_args(bias=False)).eval()
    state = {f"model.{k}": v for k, v in inner.state_dict().items()}
    state["val_acc.total"] = torch.tensor(3.0)  # a metric outside the model: must be ignored
    lightning = {
        "epoch": 1,
        "global_step": 10,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": state,
        "hyper_parameters": {
            "model_args": nano_args(False),
            "lr": 3e-4,
            "midigen_window_bars": 2,
            "midigen_max_tracks": 5,
        },
        "optimizer_states": [],
        "lr_schedulers": [],
    }
    torch.save(lightning, root / "last.ckpt")
    out["lightning"] = (root / "last.ckpt", inner)
    return out


def run_cli(*args):
    try:
        return main([str(a) for a in args] + ["-q", "--threads", "1"])
    except SystemExit as e:
        return e.code


def hf_reference(model):
    def logits(ids):
        with torch.no_grad():
            return model(input_ids=torch.from_numpy(ids)).logits.numpy()

    return logits


def nano_reference(model):
    def logits(ids):
        with torch.no_grad():
            return model(torch.from_numpy(ids)).numpy()

    return logits


def assert_bundle_matches(bundle_dir, reference, vocab_size, steps=64):
    """A fresh prompt through the bundle in ORT, step by step with its own cache (past 0 first,
    then past > 0), against the source model recomputing the whole sequence each time."""
    bundle = load_bundle(bundle_dir)
    meta = bundle.meta
    session = onnx_export.session(bundle.model_path, threads=1)
    assert [i.name for i in session.get_inputs()] == bundle.input_names
    assert [o.name for o in session.get_outputs()] == bundle.output_names
    rng = np.random.default_rng(123)
    ids = rng.integers(0, vocab_size, (2, 6))
    empty = np.zeros((2, meta["kv_heads"], 0, meta["head_dim"]), np.float32)
    past = [empty] * (2 * meta["layers"])
    feed_ids, seq = ids, ids
    for step in range(steps):
        total = seq.shape[1]
        n = feed_ids.shape[1]
        feed = {
            "input_ids": feed_ids,
            "attention_mask": np.ones((2, total), np.int64),
            "position_ids": np.broadcast_to(np.arange(total - n, total), (2, n)).copy(),
        }
        feed.update(zip(bundle.past_names, past))
        logits, *past = session.run(None, feed)
        assert past[0].shape == (2, meta["kv_heads"], total, meta["head_dim"])
        expected = reference(seq)[:, -n:]
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0, err_msg=f"step {step}")
        next_ids = logits[:, -1, :vocab_size].argmax(-1)[:, None]
        assert (next_ids == expected[:, -1, :vocab_size].argmax(-1)[:, None]).all()
        feed_ids, seq = next_ids, np.concatenate([seq, next_ids], axis=1)


# ---------------------------------------------------------------------------------------------
# the four input kinds


def test_hf_gpt2_folder(ckpts, tmp_path):
    src, model = ckpts["gpt2"]
    assert (src / "model.safetensors").exists()
    assert run_cli(src, "-o", tmp_path / "b") == 0
    meta = load_bundle(tmp_path / "b").meta
    assert (meta["architecture"], meta["layers"], meta["heads"], meta["kv_heads"]) == (
        "gpt2",
        2,
        4,
        4,
    )
    assert meta["window_bars"] == 8 and meta["max_tracks"] == 8  # config value, default
    assert meta["opset"] == 17 and meta["dtype"] == "fp32" and meta["source"]["kind"] == "hf-dir"
    assert meta["language"]["tokens"] == vocab_module.default().tokens
    report = meta["parity"]["export"]
    assert report["passed"] and report["max_abs_logit_diff"] <= 1e-4 and report["greedy_identical"]
    cases = {(c["batch"], c["prompt"], c["past"] > 0) for c in report["cases"]}
    assert cases >= {(b, s, p) for b in (1, 3) for s in (1, 7) for p in (False, True)}
    assert_bundle_matches(tmp_path / "b", hf_reference(model), VOCAB, steps=8)


def test_hf_mistral_gqa_folder_with_vocab(ckpts, tmp_path):
    src, model = ckpts["mistral"]
    lang = src.parent / "lang8.json"
    assert run_cli(src, "-o", tmp_path / "b", "--vocab", lang, "--opset", 18) == 0
    meta = load_bundle(tmp_path / "b").meta
    assert (meta["architecture"], meta["heads"], meta["kv_heads"]) == ("mistral", 4, 2)
    assert meta["vocab_size"] == meta["embedding_rows"] == model.config.vocab_size
    assert meta["language"] == json.loads(lang.read_text())
    assert meta["opset"] == 18
    assert onnx.load(str(tmp_path / "b" / "model.onnx")).opset_import[0].version == 18
    assert_bundle_matches(tmp_path / "b", hf_reference(model), meta["vocab_size"], steps=8)


@pytest.mark.parametrize("kind", ["llama", "llama-lightning"])
def test_hf_llama_mqa(ckpts, tmp_path, kind):
    src, model = ckpts[kind]
    assert run_cli(src, "-o", tmp_path / "b") == 0
    meta = load_bundle(tmp_path / "b").meta
    assert (meta["architecture"], meta["heads"], meta["kv_heads"]) == ("llama", 4, 1)
    assert meta["max_tracks"] == 4
    assert meta["source"]["kind"] == ("lightning" if "lightning" in kind else "hf-dir")
    assert_bundle_matches(tmp_path / "b", hf_reference(model), VOCAB, steps=4)


def test_int8_keeps_llamas_first_attention_and_head_fp32(ckpts, tmp_path):
    """Llama's projection weights are anonymous after tracing (onnx::MatMul_N): the first
    layer's four attention products are found by their node names."""
    src, _ = ckpts["llama"]
    assert run_cli(src, "-o", tmp_path / "b", "--optimize", "--int8") == 0
    kept = load_bundle(tmp_path / "b").meta["optimization"]["conversion"]["fp32_nodes"]
    attention = sorted(k for k in kept if "layers.0/self_attn/" in k)
    assert [k.split("/")[-2] for k in attention] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert len(kept) == 5 and any("lm_head" in k for k in kept)


def test_nanogpt_pt_against_original_module(ckpts, tmp_path, monkeypatch):
    src, nano = ckpts["nano"]
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_THRESHOLD", 0)  # exercise the >2 GB layout
    assert run_cli(src, "-o", tmp_path / "b", "--window-bars", 16) == 0
    meta = load_bundle(tmp_path / "b").meta
    assert meta["source"]["kind"] == "nanogpt" and meta["window_bars"] == 16
    assert (meta["vocab_size"], meta["embedding_rows"]) == (VOCAB, PADDED)
    assert meta["external_data"] == "model.onnx.data"
    assert (tmp_path / "b" / "model.onnx.data").stat().st_size > 100_000
    assert_bundle_matches(tmp_path / "b", nano_reference(nano), VOCAB)


def test_lightning_ckpt_with_module_prefix(ckpts, tmp_path):
    src, inner = ckpts["lightning"]
    assert run_cli(src, "-o", tmp_path / "b", "--max-tracks", 3) == 0
    meta = load_bundle(tmp_path / "b").meta
    assert meta["source"]["kind"] == "lightning"
    assert (meta["window_bars"], meta["max_tracks"]) == (2, 3)  # checkpoint's, explicit flag
    assert_bundle_matches(tmp_path / "b", nano_reference(inner), VOCAB, steps=16)


# ---------------------------------------------------------------------------------------------
# optimisation and reduced precision


def test_optimize_and_int8_report_fusions_and_agreement(ckpts, tmp_path):
    src, model = ckpts["gpt2"]
    assert run_cli(src, "-o", tmp_path / "b", "--optimize", "--int8") == 0
    meta = load_bundle(tmp_path / "b").meta
    fused = meta["optimization"]["fused_operators"]
    assert fused.get("SkipLayerNormalization", 0) > 0 and fused.get("FastGelu", 0) > 0
    assert meta["parity"]["optimize"]["passed"]
    assert meta["parity"]["optimize"]["max_abs_logit_diff"] <= 1e-4
    int8 = meta["parity"]["int8"]
    assert meta["dtype"] == "int8" and int8["passed"]
    assert 0.9 <= int8["top1_agreement"] <= 1.0 and int8["top1_positions"] > 200
    graph = onnx.load(str(tmp_path / "b" / "model.onnx")).graph
    assert any(node.op_type == "DynamicQuantizeLinear" for node in graph.node)
    # the first block's two attention products and the output projection stay fp32; the first
    # block's MLP and every later product are int8
    kept = meta["optimization"]["conversion"]["fp32_nodes"]
    fp32 = {n.name for n in graph.node if n.op_type == "MatMul"}
    assert len(kept) == 3 and set(kept) == fp32
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == 4 * meta["layers"] - 2


@pytest.mark.parametrize("kind, gelu", [("gpt2", "FastGelu"), ("nano", "BiasGelu")])
def test_optimize_builds_the_fused_graph_with_a_shared_cache(ckpts, tmp_path, kind, gelu):
    """GPT2-family models (nanoGPT's exact GELU included) get GroupQueryAttention over one
    buffer per layer that is both past and present: no Concat, nothing grows."""
    src, _ = ckpts[kind]
    assert run_cli(src, "-o", tmp_path / "b", "--optimize") == 0
    bundle = load_bundle(tmp_path / "b")
    meta = bundle.meta
    assert meta["kv_cache"] == "shared" and bundle.past_names[0] == "past_key_values.0.key"
    ops = [n.op_type for n in onnx.load(str(tmp_path / "b" / "model.onnx")).graph.node]
    assert ops.count("GroupQueryAttention") == meta["layers"] and ops.count(gelu) == meta["layers"]
    assert "Concat" not in ops and "Softmax" not in ops
    assert meta["optimization"]["fused_operators"]["GroupQueryAttention"] == meta["layers"]
    past = meta["io"]["inputs"]["past_key_values.0.key"]["shape"]
    assert past == meta["io"]["outputs"]["present.0.key"]["shape"]
    report = meta["parity"]["optimize"]
    assert report["passed"] and report["greedy_identical"]
    assert not any(c["padded"] for c in report["cases"])
    assert meta["parity"]["export"]["passed"]  # the traced graph was checked first
    # its prefill twin: the same graph with unfused norms, reading the same weights file
    assert meta["prefill_model_file"] == "prefill.onnx" and meta["external_data"]
    twin = onnx.load(str(tmp_path / "b" / "prefill.onnx"), load_external_data=False).graph
    twin_ops = [n.op_type for n in twin.node]
    assert "SkipLayerNormalization" not in twin_ops
    assert twin_ops.count("LayerNormalization") == ops.count("SkipLayerNormalization") > 0
    assert [n for n in twin_ops if n not in ("Add", "LayerNormalization")] == [
        n for n in ops if n not in ("Add", "SkipLayerNormalization")
    ]
    big = [t for t in twin.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert big and {e.value for t in big for e in t.external_data if e.key == "location"} == {
        meta["external_data"]
    }
    assert (tmp_path / "b" / "prefill.onnx").stat().st_size < 64 * 1024
    assert meta["parity"]["prefill"]["passed"] and meta["parity"]["prefill"]["greedy_identical"]
    # a bundle whose twin is gone is refused, as a missing model is
    (tmp_path / "b" / "prefill.onnx").unlink()
    with pytest.raises(BundleError, match="prefill graph prefill.onnx is missing"):
        load_bundle(tmp_path / "b")


def test_optimize_keeps_the_traced_graph_for_llama(ckpts, tmp_path):
    src, _ = ckpts["llama"]
    assert run_cli(src, "-o", tmp_path / "b", "--optimize") == 0
    meta = load_bundle(tmp_path / "b").meta
    assert meta["kv_cache"] == "growing" and meta["parity"]["optimize"]["passed"]
    assert "GroupQueryAttention" not in meta["optimization"]["fused_operators"]
    assert meta["prefill_model_file"] is None and not (tmp_path / "b" / "prefill.onnx").exists()


def test_fp16_keeps_io_in_fp32(ckpts, tmp_path):
    """ORT's CPU provider runs the mixed graph, so parity is checked here as on GPU."""
    src, model = ckpts["gpt2"]
    assert run_cli(src, "-o", tmp_path / "b", "--fp16") == 0
    bundle = load_bundle(tmp_path / "b")
    report = bundle.meta["parity"]["fp16"]
    assert bundle.meta["dtype"] == "fp16" and report["passed"]
    assert report["max_abs_logit_diff"] <= 0.2 and report["top1_agreement"] >= 0.9
    session = bundle.session()
    assert all(i.type in ("tensor(int64)", "tensor(float)") for i in session.get_inputs())
    assert all(o.type == "tensor(float)" for o in session.get_outputs())
    graph = onnx.load(str(bundle.model_path)).graph
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer)


# ---------------------------------------------------------------------------------------------
# bad inputs: one line, non-zero exit, nothing left behind


def assert_clean_failure(capsys, out_dir, *args, expect=()):
    code = run_cli(*args, "-o", out_dir)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("midigen-export: error:"), err
    for text in expect:
        assert text in err, err
    assert not out_dir.exists()
    assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(f".{out_dir.name}.")]
    return err


def test_random_bytes(tmp_path, capsys):
    (tmp_path / "noise.pt").write_bytes(os.urandom(4096))
    assert_clean_failure(capsys, tmp_path / "b", tmp_path / "noise.pt", expect=["noise.pt"])


def test_truncated_pt(ckpts, tmp_path, capsys):
    data = ckpts["nano"][0].read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    assert_clean_failure(capsys, tmp_path / "b", tmp_path / "cut.pt", expect=["truncated"])


def test_truncated_safetensors(ckpts, tmp_path, capsys):
    src = ckpts["gpt2"][0]
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_bytes((src / "config.json").read_bytes())
    weights = (src / "model.safetensors").read_bytes()
    (tmp_path / "hf" / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    assert_clean_failure(capsys, tmp_path / "b", tmp_path / "hf")


def test_a_checkpoint_folder_exports_with_its_own_language(tmp_path):
    """Training writes language.json beside each checkpoint: a model trained on language 1.1
    (515 rows) exports with that document, ids and all, without --vocab."""
    from transformers import GPT2Config, GPT2LMHeadModel

    old = vocab_module.Vocabulary(
        {
            **vocab_module.default_document(),
            "version": "1.1",
            "time_signatures": vocab_module.DEFAULT_TIME_SIGNATURES[:14],
        }
    )
    config = GPT2Config(vocab_size=len(old), n_positions=128, n_embd=16, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "language.json").write_text(old.to_json())
    assert run_cli(tmp_path / "hf", "-o", tmp_path / "b") == 0
    assert load_bundle(tmp_path / "b").vocabulary().tokens == old.tokens != VOCAB_TOKENS


def test_vocab_size_mismatch(tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(vocab_size=600, n_embd=16, n_layer=1, n_head=2)).save_pretrained(
        tmp_path / "hf"
    )
    assert_clean_failure(capsys, tmp_path / "b", tmp_path / "hf", expect=["600", str(VOCAB)])


def test_missing_path_and_existing_output(ckpts, tmp_path, capsys):
    assert_clean_failure(capsys, tmp_path / "b", tmp_path / "nope.pt", expect=["nope.pt"])
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    assert run_cli(ckpts["gpt2"][0], "-o", tmp_path / "taken") != 0
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_parity_failure_aborts_with_numbers(ckpts, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(parity, "FP32_TOLERANCE", 0.0)
    err = assert_clean_failure(
        capsys, tmp_path / "b", ckpts["gpt2"][0], expect=["parity failed", "max |logit diff|"]
    )
    assert "tolerance 0" in err


def test_pickled_objects_need_trust_pickle(ckpts, tmp_path, capsys):
    """Lightning hyper-parameters often hold objects such as an argparse.Namespace."""
    checkpoint = torch.load(ckpts["lightning"][0], weights_only=True)
    checkpoint["hyper_parameters"]["args"] = argparse.Namespace(lr=3e-4)
    torch.save(checkpoint, tmp_path / "objects.ckpt")
    assert_clean_failure(
        capsys, tmp_path / "b", tmp_path / "objects.ckpt", expect=["--trust-pickle"]
    )
    assert run_cli(tmp_path / "objects.ckpt", "-o", tmp_path / "b", "--trust-pickle") == 0
    assert load_bundle(tmp_path / "b").meta["source"]["kind"] == "lightning"


def test_help_has_examples(capsys):
    assert run_cli("--help") == 0
    assert "examples:" in capsys.readouterr().out


def test_load_bundle_rejects_bad_meta(ckpts, tmp_path):
    assert run_cli(ckpts["lightning"][0], "-o", tmp_path / "b") == 0
    meta_path = tmp_path / "b" / "midigen.json"
    meta = json.loads(meta_path.read_text())
    meta["layers"] = 3  # io names no longer match
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="layers"):
        load_bundle(tmp_path / "b")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)
    meta["layers"] = 2
    meta["kv_cache"] = "paged"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="kv_cache 'paged'"):
        load_bundle(tmp_path / "b")
    del meta["kv_cache"]  # written before the fused graph: the traced signature
    meta_path.write_text(json.dumps(meta))
    assert load_bundle(tmp_path / "b").kv_cache == "growing"
    meta["kv_cache"] = "shared"  # but its io is the traced graph's
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="io.inputs"):
        load_bundle(tmp_path / "b")


def test_vocab_size_rule():
    check_vocab_size(VOCAB, VOCAB)
    check_vocab_size(PADDED, VOCAB)  # padded to the next multiple of 64
    for rows in (VOCAB - 1, VOCAB + 1, PADDED + 64, 50304):
        with pytest.raises(CheckpointError, match=f"{rows}.*{VOCAB}"):
            check_vocab_size(rows, VOCAB)


def test_atomic_folder_replaces_only_on_success(tmp_path):
    dest = tmp_path / "bundle"
    with pytest.raises(RuntimeError):
        with atomic_folder(dest) as folder:
            (folder / "model.onnx").write_text("half")
            raise RuntimeError("export died")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(dest) as folder:
        (folder / "a").write_text("old")
    with pytest.raises(FileExistsError):
        with atomic_folder(dest):
            pass
    with atomic_folder(dest, overwrite=True) as folder:
        (folder / "b").write_text("new")
    assert sorted(p.name for p in dest.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
