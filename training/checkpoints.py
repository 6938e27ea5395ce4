"""Checkpoints of a training run and the export of the best one into a shipped bundle.

A checkpoint folder is a Hugging Face model folder plus the language document it was trained
with (and, for `last/`, trainer.pt: optimizer, step, schedule, RNG), so the exporter and a
resumed run need nothing but the folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import torch

from midigen.server.language.vocab import Vocabulary

REPO = Path(__file__).resolve().parent.parent


def save(model: torch.nn.Module, folder: Path, vocab: Vocabulary, trainer: dict | None = None
         ) -> None:  # fmt: skip
    """Write to a temporary folder and rename, so a run killed mid-save keeps the last good one."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    (tmp / "language.json").write_text(vocab.to_json())
    if trainer is not None:
        torch.save(trainer, tmp / "trainer.pt")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def export(best: Path, name: str) -> None:
    """The shipped bundle comes from the project's own exporter, parity checks included."""
    exe = Path(sys.executable).parent / "midigen-export"
    cmd = [str(exe) if exe.exists() else "midigen-export", str(best), "-o",
           str(REPO / "models" / name), "--optimize"]  # fmt: skip
    print("exporting:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def hf_from_bundle(bundle_dir: Path | str, out: Path | str) -> Path:
    """Rebuild the Hugging Face GPT2 folder a shipped fp32 GPT2 bundle was exported from.

    The exporter keeps the model's own tensor names (`transformer.h.0.attn.c_attn.weight`, ...)
    as the ONNX initializers, so a bundle is enough to warm-start a new run (`train.py --init`)
    on a machine that never had the original checkpoint. The result is checked against the
    bundle itself: the same prompt must give the same next-token logits through ONNX Runtime
    (max |difference| < 1e-3), or nothing is written.
    """
    import onnx
    from onnx import numpy_helper
    from transformers import GPT2Config, GPT2LMHeadModel

    from midigen.exporter import kvgroups
    from midigen.exporter.bundle import load_bundle
    from midigen.server.engine.session import Engine

    bundle = load_bundle(bundle_dir)
    meta = bundle.meta
    if meta.get("architecture") != "gpt2" or meta.get("dtype") != "fp32":
        raise ValueError(f"{bundle_dir}: only fp32 GPT2 bundles can be turned back into weights "
                         f"(this one is {meta.get('architecture')} {meta.get('dtype')}; the "
                         "shipped default's fp32 twin is models/midigen-base-fp32)")  # fmt: skip
    graph = onnx.load(str(bundle.model_path)).graph
    tensors = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    vocab = bundle.vocabulary()
    config = GPT2Config(
        vocab_size=meta["vocab_size"], n_positions=meta["context_length"],
        n_embd=meta["hidden_size"], n_layer=meta["layers"], n_head=meta["heads"],
        bos_token_id=vocab.special("<piece>"), eos_token_id=vocab.special("<end>"),
        pad_token_id=vocab.special("<pad>"), midigen_window_bars=meta["window_bars"],
        midigen_max_tracks=meta["max_tracks"], tie_word_embeddings=True,
    )  # fmt: skip
    if meta["kv_heads"] != meta["heads"]:
        config.midigen_kv_heads = meta["kv_heads"]
    model = kvgroups.make_grouped(GPT2LMHeadModel(config)).eval()
    wanted = {k for k in model.state_dict() if not k.endswith((".attn.bias", ".masked_bias"))}
    wanted.discard("lm_head.weight")  # tied to transformer.wte.weight
    missing = wanted - tensors.keys()
    if missing:
        raise ValueError(f"{bundle_dir}: tensors missing from the graph: {sorted(missing)[:4]}")
    model.load_state_dict({k: tensors[k] for k in wanted}, strict=False)

    prompt = [vocab.special("<piece>")] + list(range(10, 60))
    with torch.no_grad():
        mine = model(torch.tensor([prompt])).logits[0, -1].numpy()
    theirs = Engine(bundle.path, device="cpu", threads=1).prefill([prompt])[0]
    diff = float(abs(mine - theirs).max())
    if diff > 1e-3:
        raise ValueError(f"{bundle_dir}: rebuilt weights disagree with the bundle (max {diff:.2e})")
    save(model, Path(out), vocab)
    print(f"{out}: weights of {bundle_dir} (max |logit difference| {diff:.1e})", flush=True)
    return Path(out)


def adopt_language(model: torch.nn.Module, old: Vocabulary, new: Vocabulary) -> int:
    """Give a model trained on language `old` the token ids of language `new`, in place.

    A newer language adds tokens (1.2 added four meters), which moves the ids of the families
    after them. Each embedding row follows its token by name, so a warm start keeps everything
    the model learnt; a new token starts as the mean of its family's old rows (a new meter
    begins as "some meter"), which training then refines. Returns how many tokens are new.
    Tokens that `new` dropped are an error: nothing would say what their rows should become.
    """
    gone = set(old.tokens) - set(new.tokens)
    if gone:
        raise ValueError(f"language {new.document['version']} has no tokens "
                         f"{sorted(gone)[:4]} of {old.document['version']}")  # fmt: skip
    wte = model.get_input_embeddings().weight.data
    rows = torch.empty(len(new), wte.shape[1], dtype=wte.dtype)
    added = 0
    for i, token in enumerate(new.tokens):
        if token in old.index:
            rows[i] = wte[old.index[token]]
            continue
        family = new.families[token.split(":")[0]] if ":" in token else None
        kin = [old.index[t] for t in new.tokens[family.start:family.stop] if t in old.index] \
            if family else []  # fmt: skip
        rows[i] = wte[kin].mean(0) if kin else wte[: len(old)].mean(0)
        added += 1
    model.resize_token_embeddings(len(new))
    model.get_input_embeddings().weight.data.copy_(rows)
    model.tie_weights()
    model.config.midigen_language_version = new.document["version"]
    return added


def extend_positions(model: torch.nn.Module, context: int) -> int:
    """Give a GPT2 model `context` position rows, in place; returns how many are new.

    A warm start to a longer context (issue 15: 4 bars each side of a 4-bar hole on a busy
    piece needs ~2,048 tokens) keeps every learnt row, and row i beyond the old length starts
    as a copy of row i mod old: learnt absolute positions mostly tell near from far, which a
    copy keeps everywhere but at the seams, and Longformer found copied rows train in a short
    run where random ones need a long one. Positions below the old length are unchanged, so
    the model gives the same logits on any prompt that fitted before."""
    wpe = model.transformer.wpe.weight.data
    old = wpe.shape[0]
    if context < old:
        raise ValueError(f"--context {context} is shorter than the model's {old} positions")
    if context == old:
        return 0
    rows = wpe[torch.arange(context) % old].clone()
    model.transformer.wpe = torch.nn.Embedding(context, wpe.shape[1]).to(wpe.device, wpe.dtype)
    model.transformer.wpe.weight.data.copy_(rows)
    model.config.n_positions = context
    return context - old
