"""Parity between the torch model and the exported graph, run by every export.

The cases cover what the server does: a first step (past length 0) and later steps (past > 0),
single-token and multi-token inputs, batch 1 and 3, and a left-padded batch. The past fed to both
sides is a real cache computed by torch, so each case measures one step's error. Greedy decoding
then runs each side on its own cache for 64 steps, where small errors would compound.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from .checkpoints import ModelInfo
from .wrapper import input_names

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]

FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 0.2  # ORT's GPT-2 helper: DEFAULT_TOLERANCE[Precision.FLOAT16]
GREEDY_STEPS = 64


class ParityError(Exception):
    """The exported graph disagrees with torch; the message carries the numbers."""


@dataclass(frozen=True)
class Case:
    batch: int
    prompt: int
    past: int
    padded: bool = False  # left-pad rows of the past by 0, 2, 3 positions


CASES = [Case(b, s, p) for b in (1, 3) for s in (1, 7) for p in (0, 9)] + [Case(3, 5, 6, True)]
# The fused graph has no attention mask: rows of different lengths are right-padded with a
# per-row length instead (the engine's tests check those against torch), so no left padding;
# and GroupQueryAttention takes several new tokens after a past only at batch 1. The engine
# does neither: it prefills from an empty cache, then feeds one token per row.
SHARED_CASES = [c for c in CASES if not c.padded and not (c.batch > 1 and c.prompt > 1 and c.past)]


def torch_runner(wrapper: torch.nn.Module) -> Runner:
    def run(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            outputs = wrapper(*(torch.from_numpy(feed[n]) for n in input_names(wrapper.n_layers)))
        return [o.numpy() for o in outputs]

    return run


def cached(runner: Runner) -> Runner:
    """Memoise the torch side: every stage (export, optimise, fp16/int8) replays the same seeded
    inputs, and torch's own greedy run feeds itself, so its outputs can be computed once."""
    memo: dict[bytes, list[np.ndarray]] = {}

    def run(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        digest = hashlib.sha1()
        for name, array in feed.items():
            digest.update(f"{name}{array.shape}{array.dtype}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        key = digest.digest()
        if key not in memo:
            memo[key] = runner(feed)
        return memo[key]

    return run


def ort_runner(session: object) -> Runner:
    return lambda feed: session.run(None, feed)


def shared_runner(session: object, info: ModelInfo, kv_heads: int | None = None) -> Runner:
    """The fused graph seen through the traced graph's signature, so that the same cases and
    greedy run check it: the past goes into a buffer exactly past + new tokens long, bound as
    both past and present as the engine binds it, and the filled buffer is the present.

    A grouped GPT2 (kvgroups.py) caches `kv_heads` heads in the fused graph but each one
    repeated over its group in torch: the buffer takes the first head of each group of the
    torch past (the others are copies), and the present is repeated back for the comparison."""
    import onnxruntime as ort

    from .fused_graph import SEQLENS, TOTAL_LENGTH
    from .wrapper import past_names, present_names

    pasts, presents = past_names(info.layers), present_names(info.layers)
    kv = kv_heads or info.kv_heads
    groups = info.kv_heads // kv

    def run(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        ids, mask = feed["input_ids"], feed["attention_mask"]
        if not mask.all():
            raise ValueError("the fused graph takes no left padding")
        batch, seq = ids.shape
        known = feed[pasts[0]].shape[2]
        total = known + seq
        binding = session.io_binding()
        binding.bind_cpu_input("input_ids", ids)
        binding.bind_cpu_input("position_ids", feed["position_ids"])
        binding.bind_cpu_input(SEQLENS, np.full(batch, total - 1, np.int32))
        binding.bind_cpu_input(TOTAL_LENGTH, np.array(total, np.int32))
        binding.bind_output("logits", "cpu")
        buffers = []
        for past, present in zip(pasts, presents):
            buffer = np.zeros((batch, kv, total, info.head_dim), np.float32)
            buffer[:, :, :known] = feed[past][:, ::groups]
            value = ort.OrtValue.ortvalue_from_numpy(buffer)
            binding.bind_ortvalue_input(past, value)
            binding.bind_ortvalue_output(present, value)
            buffers.append(buffer)
        session.run_with_iobinding(binding)
        logits = binding.get_outputs()[0].numpy()
        return [logits, *(np.repeat(b, groups, axis=1) if groups > 1 else b for b in buffers)]

    return run


def make_feed(
    info: ModelInfo, ids: np.ndarray, mask: np.ndarray, past: list[np.ndarray] | None
) -> dict[str, np.ndarray]:
    """Inputs for one step; positions count only unmasked tokens, as HF generate() does."""
    batch, seq = ids.shape
    if past is None:
        empty = np.zeros((batch, info.kv_heads, 0, info.head_dim), np.float32)
        past = [empty] * (2 * info.layers)
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)[:, -seq:]
    names = input_names(info.layers)
    return dict(zip(names, [ids, mask, positions.astype(np.int64), *past]))


def check(
    reference: Runner,
    candidate: Runner,
    info: ModelInfo,
    vocab_size: int,
    precision: str = "fp32",
    min_agreement: float = 0.9,
    seed: int = 0,
    progress: bool = True,
    which: list[Case] = CASES,
) -> dict:
    """Compare candidate (ORT) with reference (torch); returns the report, passed or not."""
    rng = np.random.default_rng(seed)
    cases = []
    agree = total = 0
    for case in tqdm(which, desc=f"parity {precision}", disable=not progress, leave=False):
        feed = _case_feed(reference, info, vocab_size, case, rng)
        ref, got = reference(feed), candidate(feed)
        top_ref, top_got = ref[0][..., :vocab_size].argmax(-1), got[0][..., :vocab_size].argmax(-1)
        agree += int((top_ref == top_got).sum())
        total += top_ref.size
        cases.append(
            {
                **asdict(case),
                "max_abs_logit_diff": _max_diff(ref[:1], got[:1]),
                "max_abs_present_diff": _max_diff(ref[1:], got[1:]),
            }
        )
    prompt = rng.integers(0, vocab_size, (3, 4))
    ref_tokens = greedy(reference, info, prompt, vocab_size, progress=progress)
    got_tokens = greedy(candidate, info, prompt, vocab_size, progress=progress)
    mismatch = np.nonzero((ref_tokens != got_tokens).any(axis=0))[0]

    # Teacher-forced top-1 agreement along torch's own greedy continuation: many more positions.
    sequence = np.concatenate([prompt, ref_tokens], axis=1)
    feed = make_feed(info, sequence, np.ones_like(sequence), None)
    ref_top = reference(feed)[0][..., :vocab_size].argmax(-1)
    got_top = candidate(feed)[0][..., :vocab_size].argmax(-1)
    agree += int((ref_top == got_top).sum())
    total += ref_top.size

    report = {
        "precision": precision,
        "cases": cases,
        "max_abs_logit_diff": max(c["max_abs_logit_diff"] for c in cases),
        "max_abs_present_diff": max(c["max_abs_present_diff"] for c in cases),
        "top1_agreement": agree / total,
        "top1_positions": total,
        "greedy_steps": GREEDY_STEPS,
        "greedy_batch": int(prompt.shape[0]),
        "greedy_identical": mismatch.size == 0,
        "greedy_first_divergence": int(mismatch[0]) if mismatch.size else None,
    }
    report.update(_verdict(report, precision, min_agreement))
    return report


def _verdict(report: dict, precision: str, min_agreement: float) -> dict:
    """fp32 must match to 1e-4 and decode identically; fp16 must stay within ORT's GPT-2 tolerance
    and agree on top-1; int8 (weights rounded to 8 bits) is judged on top-1 agreement alone."""
    if precision == "fp32":
        rule = {"tolerance": FP32_TOLERANCE}
        ok = report["max_abs_logit_diff"] <= FP32_TOLERANCE and report["greedy_identical"]
    elif precision == "fp16":
        rule = {"tolerance": FP16_TOLERANCE, "min_top1_agreement": min_agreement}
        ok = report["max_abs_logit_diff"] <= FP16_TOLERANCE
        ok = ok and report["top1_agreement"] >= min_agreement
    else:
        rule = {"min_top1_agreement": min_agreement}
        ok = report["top1_agreement"] >= min_agreement
    return {**rule, "passed": bool(ok)}


def summary(report: dict) -> str:
    """One line with the numbers, for the console and for failure messages."""
    greedy = (
        "identical"
        if report["greedy_identical"]
        else f"diverge at step {report['greedy_first_divergence']}"
    )
    limits = []
    if "tolerance" in report:
        limits.append(f"tolerance {report['tolerance']:g}")
    if "min_top1_agreement" in report:
        limits.append(f"min agreement {report['min_top1_agreement']:g}")
    return (
        f"{report['precision']}: max |logit diff| {report['max_abs_logit_diff']:.3g}, "
        f"present {report['max_abs_present_diff']:.3g}, top-1 agreement "
        f"{report['top1_agreement']:.4f} over {report['top1_positions']} positions, "
        f"greedy {report['greedy_steps']} steps x {report['greedy_batch']} {greedy} "
        f"({', '.join(limits)})"
    )


def require(report: dict, stage: str) -> None:
    if not report["passed"]:
        raise ParityError(f"parity failed after {stage}: {summary(report)}")


def greedy(
    runner: Runner,
    info: ModelInfo,
    prompt: np.ndarray,
    vocab_size: int,
    steps: int = GREEDY_STEPS,
    progress: bool = False,
) -> np.ndarray:
    """Greedy continuation with the runner's own KV cache, as the server decodes."""
    ids, mask, past = prompt.astype(np.int64), np.ones_like(prompt, dtype=np.int64), None
    tokens = []
    for _ in tqdm(range(steps), desc="greedy", disable=not progress, leave=False):
        outputs = runner(make_feed(info, ids, mask, past))
        ids = outputs[0][:, -1, :vocab_size].argmax(-1)[:, None].astype(np.int64)
        tokens.append(ids)
        past = outputs[1:]
        mask = np.concatenate([mask, np.ones_like(ids)], axis=1)
    return np.concatenate(tokens, axis=1)


def _case_feed(
    reference: Runner, info: ModelInfo, vocab_size: int, case: Case, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The case's inputs; its past is what the reference computes for a random prefix."""
    mask = np.ones((case.batch, case.past + case.prompt), np.int64)
    if case.padded:
        for row in range(case.batch):
            mask[row, : min((0, 2, 3)[row % 3], case.past)] = 0
    past = None
    if case.past:
        prefix = rng.integers(0, vocab_size, (case.batch, case.past))
        past = reference(make_feed(info, prefix, mask[:, : case.past], None))[1:]
    ids = rng.integers(0, vocab_size, (case.batch, case.prompt))
    return make_feed(info, ids, mask, past)


def _max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    diffs = [float(np.abs(x.astype(np.float64) - y).max()) for x, y in zip(a, b) if x.size]
    return max(diffs, default=0.0)
