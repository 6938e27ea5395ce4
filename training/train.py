"""Train the default model: a small Hugging Face GPT2 from scratch on the midigen language.

    python -m training.train --out ~/.cache/midigen/runs/base --max-minutes 180 [--resume]
                             [--export midigen-base]

A plain PyTorch loop (nanoGPT-style): AdamW, linear warmup then cosine decay, gradient
clipping, periodic validation on a fixed set of validation-split examples, checkpoints every
few minutes. Examples come from training/dataset.py in length-sorted batches of about
`--batch-tokens` tokens each, padded on the right, each starting at position 0 as the server's
prompts do (no packing of several examples into one row).

Loss. Every token of an example is a target except padding and the track headers' `inst:` and
control tokens and the velocity/microtiming mode tokens: those are the user's choices, never
something the model must guess, and predicting them only adds noise. Prompt tokens (the context
bars) stay in the loss: they are real music the model must learn to read, and at this data size
they are most of the signal. The answer (everything after the last <track_end>: the fill
sections and <end>, which is what the server samples) is weighted `--fill-weight` (2) times,
so the infill task is not drowned by context bars. Validation reports both the NLL per answer
token (`valid_fill`, the number that matters for the server and the one `best/` is chosen by)
and per weighted-in token (`valid_all`).

Output folder (`--out`, outside git): `last/` (HF model + trainer.pt: optimizer, step, schedule,
RNG), `best/` (HF model with the lowest valid_fill), `log.jsonl`. `--resume` continues from
`last/`; the data stream is reseeded from (seed, step), so a resumed run sees fresh windows
rather than the ones it already trained on. config.json carries `midigen_window_bars` and
`midigen_max_tracks`, which `midigen-export` writes into the bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from midigen.exporter import kvgroups
from midigen.server.language import vocab as vocab_mod
from midigen.server.language.vocab import Vocabulary
from training import corpus, pop909
from training import dataset as ds
from training.batching import ParallelBatches, batch_arrays
from training.checkpoints import adopt_language, export, extend_positions, hf_from_bundle, save
from training.loss import Weights, evaluate, token_nll
from training.schedule import lr_at, replan

DEFAULT_RUNS = Path.home() / ".cache" / "midigen" / "runs"
DEFAULT_CONTEXT = 1024  # a new model's context: a 4-bar hole with 2 bars each side on busy pieces


# ----------------------------------------------------------------------------- model


def model_config(vocab: Vocabulary, args: argparse.Namespace):  # noqa: ANN201 - GPT2Config
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(vocab),
        n_positions=args.context,
        n_embd=args.width,
        n_layer=args.layers,
        n_head=args.heads,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
        bos_token_id=vocab.special("<piece>"),
        eos_token_id=vocab.special("<end>"),
        pad_token_id=vocab.special("<pad>"),
        midigen_window_bars=args.window_bars,
        midigen_max_tracks=args.max_tracks,
        midigen_language_version=vocab.document["version"],
    )


# ----------------------------------------------------------------------------- training


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=DEFAULT_RUNS / "base", help="run folder")
    p.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this HF checkpoint's weights (fresh optimizer and schedule): "
        "a warm start from an earlier run kept on disk, or from a shipped fp32 GPT2 bundle "
        "such as models/midigen-base (its weights are rebuilt and parity-checked first)",
    )
    p.add_argument("--seed", type=int, default=0)
    # model (defaults: ~5M parameters, sized for a 2-core CPU)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=None,
                   help="key/value heads (exporter/kvgroups.py): fewer than --heads shrinks the "
                   "cache a decode step reads; with --init, a model with one per query head is "
                   "grouped by averaging each group's projections (default: the checkpoint's "
                   "own; from scratch: --heads)")  # fmt: skip
    p.add_argument("--context", type=int, default=None,
                   help=f"tokens a window may take (from scratch: {DEFAULT_CONTEXT}; --init and "
                   "--resume: the checkpoint's own; --init may ask for more)")  # fmt: skip
    p.add_argument("--dropout", type=float, default=0.0)
    # data
    p.add_argument("--window-bars", type=int, default=4)
    p.add_argument("--max-tracks", type=int, default=8)
    p.add_argument("--pop909", type=Path, default=None, metavar="DIR",
                   help="also train on the POP909 songs in DIR (training/pop909.py), e.g. "
                   "../shared/data/pop909")  # fmt: skip
    p.add_argument("--pop909-share", type=float, default=0.25,
                   help="share of pieces drawn from POP909 (a song has ~4x the bars of an "
                   "average corpus work, so 0.25 gives about half the windows)")  # fmt: skip
    p.add_argument("--batch-tokens", type=int, default=8192, help="tokens per batch, padding in")
    p.add_argument("--fill-weight", type=float, default=2.0)
    # optimisation
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument(
        "--max-steps",
        type=int,
        default=0,
        help="schedule length; 0: sized to --max-minutes from the measured pace",
    )
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop after this much time")
    # bookkeeping
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--eval-examples", type=int, default=300)
    p.add_argument("--save-minutes", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument(
        "--data-workers",
        type=int,
        default=0,
        metavar="N",
        help="build batches in N processes (a GPU outruns one; 0: in this one)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--export", metavar="NAME", help="at the end: midigen-export best/ to "
                   "models/NAME --optimize")  # fmt: skip
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not args.max_steps and not args.max_minutes:
        p.error("give --max-steps or --max-minutes")
    return args


def run(args: argparse.Namespace, train_pieces=None, valid_pieces=None) -> dict:  # noqa: ANN001
    """Train as `args` say. The piece sources default to the cached corpus splits; tests pass
    in-memory ones (`dataset.list_pieces`). Returns the final step and validation numbers."""
    from tqdm import tqdm
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one "Writing model shards" bar per checkpoint is noise
    hf_logging.set_verbosity_error()  # right padding without attention_mask is intended: causal

    began = time.time()
    torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device  # fmt: skip
    vocab = vocab_mod.load()
    pad = vocab.special("<pad>")
    train_pieces = train_pieces or ds.cache_pieces(args.cache, "train")
    valid_pieces = valid_pieces or ds.cache_pieces(args.cache, "valid")
    valid_sources = {"corpus": valid_pieces}
    if args.pop909 is not None:
        songs = pop909.load(args.pop909)
        share = args.pop909_share
        train_pieces = pop909.mixed(
            [train_pieces, ds.list_pieces(pop909.split_pieces(songs, "train"))], [1 - share, share]
        )
        valid_sources["pop909"] = ds.list_pieces(pop909.split_pieces(songs, "valid"))
    args.out.mkdir(parents=True, exist_ok=True)
    last, best_dir = args.out / "last", args.out / "best"

    state = {"step": 0, "total": args.max_steps, "best": float("inf"), "tokens": 0,
             "seconds": 0.0}  # fmt: skip
    if args.resume and (last / "trainer.pt").exists():
        model = kvgroups.load(last)
        trainer = torch.load(last / "trainer.pt", weights_only=False)
        state.update(trainer["state"])
        if args.max_steps:
            state["total"] = args.max_steps
        torch.set_rng_state(trainer["torch_rng"])
        print(f"resumed from {last} at step {state['step']}", flush=True)
        if args.kv_heads not in (None, kvgroups.kv_heads(model.config)):
            raise SystemExit(f"train: {last} has {kvgroups.kv_heads(model.config)} key/value "
                             "heads; resume without --kv-heads")  # fmt: skip
        if args.context not in (None, model.config.n_positions):
            raise SystemExit(
                f"train: {last} has a {model.config.n_positions}-token context; "
                f"resume with --context {model.config.n_positions}, or without --context"
            )
    elif args.init is not None:
        torch.manual_seed(args.seed)
        source = args.init
        if (source / "midigen.json").exists():  # a shipped bundle: rebuild its weights first
            source = hf_from_bundle(source, args.out / "init-weights")
        model = kvgroups.load(source)
        own = Path(source) / "language.json"  # our checkpoints and bundles carry one
        init_vocab = vocab_mod.load(own) if own.exists() else vocab
        if init_vocab.tokens != vocab.tokens:
            added = adopt_language(model, init_vocab, vocab)
            print(f"language {init_vocab.document['version']} -> {vocab.document['version']}: "
                  f"{added} new tokens", flush=True)  # fmt: skip
        try:
            added = extend_positions(model, args.context or model.config.n_positions)
        except ValueError as e:
            raise SystemExit(f"train: {e}") from None
        if added:
            print(
                f"context {args.context - added} -> {args.context}: {added} position rows "
                "copied from the first ones",
                flush=True,
            )
        model.config.midigen_window_bars = args.window_bars  # what this run trains it for
        model.config.midigen_max_tracks = args.max_tracks
        trainer = None
        print(f"weights from {args.init}", flush=True)
    else:
        torch.manual_seed(args.seed)
        args.context = args.context or DEFAULT_CONTEXT
        model = GPT2LMHeadModel(model_config(vocab, args))
        trainer = None
    if trainer is None and args.kv_heads not in (None, kvgroups.kv_heads(model.config)):
        try:  # a warm start's heads averaged per group (from scratch: random ones, as good)
            kvgroups.group(model, args.kv_heads)
        except ValueError as e:
            raise SystemExit(f"train: --kv-heads {args.kv_heads}: {e}") from None
        print(f"key/value heads {model.config.n_head} -> {args.kv_heads}: each group's "
              "projections averaged", flush=True)  # fmt: skip

    args.context = model.config.n_positions  # unset: the checkpoint's own
    cfg = ds.Config(window_bars=args.window_bars, max_tracks=args.max_tracks,
                    context=args.context)  # fmt: skip

    def arrays(seed: int, order: int) -> Iterator[np.ndarray]:
        stream = ds.examples(train_pieces, vocab, cfg, seed=seed)
        return batch_arrays((e.tokens for e in stream), args.batch_tokens, pad, seed=order)

    # data workers fork here, before the model touches CUDA
    seed = args.seed * 1_000_003 + state["step"]
    if args.data_workers > 1:
        data = ParallelBatches(lambda s: arrays(s, s), args.data_workers, seed)
    else:
        data = (torch.from_numpy(a) for a in arrays(seed, state["step"]))
    model.to(device)
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), fused=device == "cuda",
    )  # fmt: skip
    if trainer is not None:
        optimizer.load_state_dict(trainer["optimizer"])
    weights = Weights(vocab, args.fill_weight)
    per_set = args.eval_examples // len(valid_sources)
    valid_sets = {name: ds.fixed_examples(source, vocab, per_set, cfg)
                  for name, source in valid_sources.items()}  # fmt: skip
    eval_tokens = max(args.batch_tokens, 4 * args.context)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" \
        else torch.autocast("cpu", enabled=False)  # fmt: skip

    log = open(args.out / "log.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed below
    c = model.config  # not args: a --resume or --init run has the loaded model's shape
    print(f"model: {params / 1e6:.2f}M parameters, {c.n_layer}x{c.n_embd}, "
          f"{c.n_head} heads ({kvgroups.kv_heads(c)} key/value), context "
          f"{c.n_positions}; device {device}, {args.threads} threads; valid: "
          f"{ {name: len(v) for name, v in valid_sets.items()} } examples", flush=True)  # fmt: skip

    stop = {"now": False}
    # SIGTERM (a session or machine going away) ends the loop at the next step, which saves
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))

    def checkpoint() -> None:
        save(
            model,
            last,
            vocab,
            {
                "state": state,
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "args": vars(args),
            },
        )

    def validate() -> dict:
        """One validation set per data source; with several, `valid_fill` (which picks best/)
        is their mean, so the model is not chosen for one style at the other's expense."""
        with autocast:
            parts = {name: evaluate(model, v, weights, pad, device, eval_tokens)
                     for name, v in valid_sets.items()}  # fmt: skip
        result = {k: sum(p[k] for p in parts.values()) / len(parts)
                  for k in ("valid_fill", "valid_all")}  # fmt: skip
        if len(parts) > 1:
            result.update({f"valid_fill_{name}": p["valid_fill"] for name, p in parts.items()})
        if result["valid_fill"] < state["best"]:
            state["best"] = result["valid_fill"]
            save(model, best_dir, vocab)
        return result

    segment_start, segment_steps, segment_tokens, step_seconds = time.time(), 0, 0, 0.0
    last_save = time.time()
    bar = tqdm(total=state["total"] or None, initial=state["step"], unit="step",
               disable=args.no_progress, dynamic_ncols=True)  # fmt: skip
    result: dict = {}
    model.train()
    try:
        while True:
            elapsed = time.time() - segment_start
            if state["total"] and state["step"] >= state["total"]:
                break
            if args.max_minutes and elapsed > args.max_minutes * 60:
                break
            if stop["now"]:
                break
            t0 = time.time()
            ids = next(data).to(device)
            lr = lr_at(state["step"], state["total"] or 10**9, args)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast:
                nll = token_nll(model, ids)
            w, _answer = weights(ids)
            loss = (nll * w).sum() / w.sum().clamp(min=1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            real = int((ids != pad).sum())
            state["step"] += 1
            state["tokens"] += real
            segment_steps += 1
            segment_tokens += real
            step_seconds += time.time() - t0
            elapsed = time.time() - segment_start
            if replan(args, state, segment_steps):  # the schedule follows the time budget
                left = args.max_minutes * 60 - elapsed
                state["total"] = state["step"] + int(0.95 * left / (elapsed / segment_steps))
                bar.total = state["total"]
            tok_s = segment_tokens / max(step_seconds, 1e-9)  # training only, evaluation apart
            entry = {"step": state["step"], "loss": round(loss.item(), 4), "lr": lr,
                     "grad_norm": round(float(norm), 3), "tokens_per_s": round(tok_s),
                     "batch": list(ids.shape), "minutes": round(elapsed / 60, 2)}  # fmt: skip
            if state["step"] % args.eval_every == 0:
                result = validate()
                entry.update(result)
                tqdm.write(f"step {state['step']}: loss {loss.item():.3f} valid_fill "
                           f"{result['valid_fill']:.3f} valid_all {result['valid_all']:.3f} "
                           f"{tok_s:.0f} tok/s")  # fmt: skip
            log.write(json.dumps(entry) + "\n")
            log.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{tok_s:.0f}", lr=f"{lr:.1e}")
            if time.time() - last_save > args.save_minutes * 60:
                checkpoint()
                last_save = time.time()
    finally:  # whatever stopped the loop, keep what was learned
        data.close()  # stops the data workers, if any
        signal.signal(signal.SIGTERM, previous)
        bar.close()
        state["seconds"] += time.time() - segment_start
        checkpoint()
    if segment_steps and state["step"] % args.eval_every:
        result = validate()
        log.write(json.dumps({"step": state["step"], **result}) + "\n")
        checkpoint()  # `best` may have moved
    log.close()
    tok_s = segment_tokens / max(step_seconds, 1e-9)
    summary = {"step": state["step"], "tokens": state["tokens"], "best_valid_fill": state["best"],
               "tokens_per_s": round(tok_s), "parameters": params,
               "minutes": round((time.time() - began) / 60, 2), **result}  # fmt: skip
    print(json.dumps(summary), flush=True)
    if args.export:
        export(best_dir, args.export)
    return summary


def main(argv: list[str] | None = None) -> None:
    run(parse_args(argv))


if __name__ == "__main__":
    main()
