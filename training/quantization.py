"""Is an int8 bundle as good as its fp32 twin? Both are scored on the same held-out examples,
teacher-forced through ONNX Runtime (the engine the server runs, not torch), so what is compared
is exactly what users would get.

The exporter's own check (`midigen-export --int8 --min-agreement`) looks at a few prompts; this
looks at held-out music: top-1 agreement and answer NLL over every answer token (the tokens a
user's request makes the model write, as `evaluate nll` counts them). The issue's bar for
shipping int8: agreement >= 99 % and answer NLL within 1 % of fp32.

    python -m training.quantization --fp32 models/midigen-base-fp32 --int8 models/midigen-base \
        --pop909 ../shared/data/pop909 --examples 100 --json int8.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from midigen.exporter.bundle import load_bundle
from midigen.server.engine.session import Engine
from training import corpus, loss, pop909
from training import dataset as ds


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def teacher_forced(engines: list[Engine], rows: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per engine, per row: the log-probabilities the engine gives each next token of the row
    (row[1:]), feeding the row's own tokens one step at a time, all rows as one batch."""
    n = max(len(r) for r in rows)
    out = [[[] for _ in rows] for _ in engines]
    logits = [e.prefill([r[:1].tolist() for r in rows]) for e in engines]
    for t in range(1, n):
        active = np.array([t < len(r) for r in rows])
        for k, engine in enumerate(engines):
            lp = _log_softmax(logits[k].astype(np.float64))
            for i in np.flatnonzero(active):
                out[k][i].append(lp[i])
            if t < n - 1:
                tokens = np.array([r[t] if t < len(r) else 0 for r in rows], np.int64)
                logits[k] = engine.step(tokens, active & np.array([t + 1 < len(r) for r in rows]))
    return [[np.array(x) for x in per_engine] for per_engine in out]


def compare(fp32: Path, int8: Path, examples: list[np.ndarray], batch: int = 8,
            threads: int = 1) -> dict:  # fmt: skip
    """Answer NLL of both bundles and their top-1 agreement on `examples`."""
    engines = [
        Engine(fp32, device="cpu", threads=threads),
        Engine(int8, device="cpu", threads=threads),
    ]
    vocab = engines[0].vocab
    if engines[1].vocab.tokens != vocab.tokens:
        raise ValueError(f"{fp32} and {int8} speak different languages")
    weights = loss.Weights(vocab, 2.0)
    nll = [0.0, 0.0]
    agree = agree_all = answers = tokens = 0
    began = time.time()
    for start in range(0, len(examples), batch):
        rows = [np.asarray(r, np.int64) for r in examples[start : start + batch]]
        scored = teacher_forced(engines, rows)
        for i, row in enumerate(rows):
            _, answer = weights(torch.from_numpy(row)[None])
            answer = answer[0].numpy()
            targets = row[1:]
            a, b = scored[0][i], scored[1][i]
            picked = np.arange(len(targets))
            for k, lp in enumerate((a, b)):
                nll[k] -= float(lp[picked, targets][answer].sum())
            same = a.argmax(-1) == b.argmax(-1)
            agree += int(same[answer].sum())
            agree_all += int(same.sum())
            answers += int(answer.sum())
            tokens += len(targets)
    fp32_nll, int8_nll = nll[0] / max(1, answers), nll[1] / max(1, answers)
    return {
        "fp32": str(fp32), "int8": str(int8), "examples": len(examples),
        "int8_weights_sha256": load_bundle(int8).weights_sha256(),
        "answer_tokens": answers, "tokens": tokens,
        "answer_nll": {"fp32": fp32_nll, "int8": int8_nll},
        "nll_change": int8_nll / fp32_nll - 1,
        "top1_agreement_answer": agree / max(1, answers),
        "top1_agreement_all": agree_all / max(1, tokens),
        "seconds": round(time.time() - began, 1),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.quantization", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--fp32", type=Path, required=True, help="the fp32 bundle folder")
    p.add_argument("--int8", type=Path, required=True, help="its int8 export")
    p.add_argument(
        "--pop909", type=Path, metavar="DIR", help="POP909's held-out songs, not the corpus"
    )
    p.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    p.add_argument("--split", default="test", choices=("valid", "test"))
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args(argv)
    bundle = load_bundle(args.fp32)
    meta, vocab = bundle.meta, bundle.vocabulary()
    cfg = ds.Config(window_bars=meta["window_bars"], max_tracks=meta["max_tracks"],
                    context=meta["context_length"])  # fmt: skip
    if args.pop909 is not None:
        source = ds.list_pieces(pop909.split_pieces(pop909.load(args.pop909), args.split))
    else:
        source = ds.cache_pieces(args.cache, args.split)
    examples = ds.fixed_examples(source, vocab, args.examples, cfg)
    result = compare(args.fp32, args.int8, examples, threads=args.threads)
    result["split"] = ("pop909-" if args.pop909 is not None else "classical-") + args.split
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
