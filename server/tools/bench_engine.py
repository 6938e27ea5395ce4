"""The engine section of `midigen-bench`: decoding speed of ONNX Runtime against torch baselines.

Per model it reports ORT prefill and decode time, time to first bar and total time of a 4-bar
single-track infill in an 8-bar x 4-track piece (from nothing, and pressed again with the
engine's prompt cache kept: `again_*`), and, on the same weights in the same run, the torch
baselines of bench_torch.py, plus the memory-bandwidth floor (weight bytes read per token /
measured copy bandwidth). The models are random GPT-2s of the default model's size, of midigpt's
(6 x 512) and of GPT2-small's, exported with midigen-export (`--optimize`, and `--int8` for the
two larger) and cached between runs, and with `--model` a bundle of one's own. Key names are
documented in BENCHMARKS.md. Needs the export extra (torch, transformers, onnx).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..language.piece import Note, Piece, Track
from .bench_torch import hf_generate, midigpt_decode, midigpt_stepper, torch_decode
from .timing import REPEATS, Stopwatch, alternating_ratio, best_ms, timed_loop

THREADS = int(os.environ.get("MIDIGEN_BENCH_THREADS", "2"))
CACHE = Path(os.environ.get("MIDIGEN_BENCH_CACHE", Path.home() / ".cache" / "midigen-bench"))
# name: (layers, width, heads, int8 twin too); context 1024, window 8 bars x 4 tracks for all.
# 6 x 512 x 8 heads is the size of midigpt 0.4's GPT-2 (its GPT2Config defaults).
MODELS = {
    "default_6x256": (6, 256, 8, False),
    "midigpt_6x512": (6, 512, 8, True),
    "gpt2small_12x768": (12, 768, 12, True),
}


def engine_section(model: str | None = None, int8: str | None = None) -> dict[str, float]:
    """Flat results `<model>.<backend>.<metric>`; with `model`, that bundle is measured too
    (and `int8`, its int8 export, beside it)."""
    import torch

    torch.set_num_threads(THREADS)
    results: dict[str, float] = {"threads": float(THREADS)}
    bandwidth = copy_bandwidth()
    results["copy_bandwidth_gb_s"] = bandwidth / 1e9
    peak = matmul_flops()
    results["matmul_gflop_s"] = peak / 1e9
    bundles = {name: _random_bundle(name, *shape) for name, shape in MODELS.items()}
    if model:
        bundles["model"] = (Path(model), Path(int8) if int8 else None)
    for name, (path, quant) in bundles.items():
        for key, value in measure_model(path, bandwidth, quant, peak).items():
            results[f"{name}.{key}"] = value
    return results


def measure_model(path: Path, bandwidth: float, int8: Path | None = None,
                  peak: float | None = None) -> dict[str, float]:  # fmt: skip
    from ..engine.session import Engine

    rss0 = _rss_mb()
    engine = Engine(path, device="auto", threads=THREADS)
    meta = engine.bundle.meta
    out: dict[str, float] = {"on_cuda": float(engine.device == "cuda")}
    prompt = infill_prompt(engine)
    out["prompt_tokens"] = float(len(prompt))
    weights = weight_bytes(meta)
    out["weight_mb"] = weights / 1e6
    out["floor_ms_per_token"] = floor = weights / bandwidth * 1e3
    if peak:
        flops = decode_flops(meta, len(prompt))
        out["gflop_per_token"] = flops / 1e9
        out["compute_floor_ms_per_token"] = flops / peak * 1e3
    ort = ort_decode(engine, prompt)
    out.update({f"onnxruntime.{k}": v for k, v in ort.items()})
    out.update({f"onnxruntime.{k}": v for k, v in infill_timing(engine).items()})
    out.update({f"onnxruntime.{k}": v for k, v in wide_timing(engine).items()})
    out["onnxruntime.rss_mb"] = _rss_mb() - rss0
    source = Path(meta["source"]["path"])
    stepper = None  # midigpt's GPT-2 on these weights, when midigpt is installed
    if meta["source"]["kind"] == "hf-dir" and source.is_dir():
        out.update({f"torch_eager.{k}": v for k, v in torch_decode(source, prompt).items()})
        out.update({f"hf_generate.{k}": v for k, v in hf_generate(source, prompt).items()})
        stepper = midigpt_stepper(source, prompt)
        out.update({f"midigpt_torch.{k}": v for k, v in midigpt_decode(stepper).items()})
        for kind in ("", "cpu_"):
            key = f"decode_{kind}ms_per_token"
            ratio = out[f"torch_eager.{key}"] / out[f"onnxruntime.{key}"]
            out[f"onnxruntime.speedup_vs_torch_eager{'_cpu' if kind else ''}"] = ratio
        if stepper is not None:
            theirs = out["midigpt_torch.decode_ms_per_token"]
            out["onnxruntime.speedup_vs_midigpt"] = theirs / out["onnxruntime.decode_ms_per_token"]
    out["onnxruntime.ratio_to_floor"] = out["onnxruntime.decode_ms_per_token"] / floor
    out["onnxruntime.ratio_to_floor_cpu"] = out["onnxruntime.decode_cpu_ms_per_token"] / floor
    if peak:
        compute = out["compute_floor_ms_per_token"]
        out["onnxruntime.ratio_to_compute_floor"] = out["onnxruntime.decode_ms_per_token"] / compute
    if int8 is not None:
        quant = Engine(int8, device="cpu", threads=THREADS)
        q = ort_decode(quant, prompt)
        out["onnxruntime_int8.prefill_ms"] = q["prefill_ms"]
        out.update({f"onnxruntime_int8.{k}": v for k, v in infill_timing(quant).items()})
        out.update({f"onnxruntime_int8.{k}": v for k, v in wide_timing(quant).items()})
        for kind in ("", "cpu_"):
            key = f"decode_{kind}ms_per_token"
            out[f"onnxruntime_int8.{key}"] = q[key]
            ratio = out[f"onnxruntime.{key}"] / q[key]
            out[f"onnxruntime_int8.speedup_vs_fp32{'_cpu' if kind else ''}"] = ratio
        out["onnxruntime_int8.top1_agreement"] = top1_agreement(engine, quant, prompt)
        if stepper is not None:
            theirs = out["midigpt_torch.decode_ms_per_token"]
            out["onnxruntime_int8.speedup_vs_midigpt"] = theirs / q["decode_ms_per_token"]
            import torch

            ours = ort_stepper(quant, prompt)
            with torch.inference_mode():  # the turns time the decode loops only, no prefills
                turns = alternating_ratio(
                    lambda: timed_loop(*ours)["decode_ms_per_token"],
                    lambda: timed_loop(*stepper)["decode_ms_per_token"],
                )
            for k, v in turns.items():
                out[f"onnxruntime_int8.speedup_vs_midigpt_alternating_{k}"] = v
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


# -- the workload ------------------------------------------------------------------------------


def bench_piece(bars: int = 8, tracks: int = 4) -> Piece:
    """A moderately busy 4/4 piece (~8 notes per bar and track): a bass line, chords, a melody
    and drums, so the prompt has the size of a typical DAW selection (~800 tokens)."""
    rng = np.random.default_rng(0)
    piece = Piece(length=bars * 4.0)
    for t in range(tracks):
        notes = []
        for q in range(bars * 8):  # 8th steps
            start = q / 2
            if t == 0 and q % 2 == 0:
                notes.append(Note(start, 36 + int(rng.integers(12)), 1.0, 90))
            elif t == 1 and q % 4 == 0:
                root = 52 + int(rng.integers(7))
                notes += [Note(start, root + i, 2.0, 70) for i in (0, 4, 7)]
            elif t == 2 and rng.random() < 0.6:
                notes.append(Note(start, 64 + int(rng.integers(16)), 0.5, 80))
            elif t == 3:
                notes.append(Note(start, 42, 0.25, 70))
                if q % 4 == 0:
                    notes.append(Note(start, 36 if q % 8 == 0 else 38, 0.25, 110))
        piece.tracks.append(Track([33, 0, 73, 0][t], t == 3, f"t{t}", notes))
    return piece


def _request(first_bar: int = 2) -> object:
    from ..engine.generation import Request
    from ..engine.sampling import SamplingOptions
    from ..language.windows import Selection

    sampling = SamplingOptions(seed=0, max_bar_tokens=64)
    # the melody, bars 3-6 of the 8-bar piece (or 5-8 of the 12-bar one)
    return Request("infill", [Selection(2, first_bar, first_bar + 3)], sampling=sampling)


def infill_prompt(engine: object) -> list[int]:
    """The prompt of the request's first window step."""
    from ..engine.generation import step_prompts

    return step_prompts(engine, bench_piece(), _request())[0]


def _best_infill(engine: object, piece: Piece, request: object, keep: bool = False) -> object:
    """The fastest of REPEATS runs of `request` (generation.Done); without `keep` the engine's
    kept prompts are dropped before each, as for a server's first request."""
    from ..engine.generation import Done, generate

    def infill() -> Done:
        if not keep:
            engine.forget()
        return [e for e in generate(engine, piece, request) if isinstance(e, Done)][0]

    return min((infill() for _ in range(REPEATS)), key=lambda d: d.total_ms)


def infill_timing(engine: object) -> dict[str, float]:
    """The 4-bar infill from nothing (a server's first request: the engine's kept prompt is
    dropped before each run), and the same request pressed again, which reuses the prompt's
    cache (kvcache.SharedCache)."""
    best = _best_infill(engine, bench_piece(), _request())
    again = _best_infill(engine, bench_piece(), _request(), keep=True)
    return {
        "infill_first_bar_ms": best.first_bar_ms,
        "infill_total_ms": best.total_ms,
        "infill_tokens": float(best.tokens),
        "infill_model_steps": float(best.model_steps),
        "again_first_bar_ms": again.first_bar_ms,
        "again_total_ms": again.total_ms,
    }


def wide_timing(engine: object) -> dict[str, float]:
    """The 4-bar infill with 4 bars of context on each side (bars 5-8 of a 12-bar piece), as
    issue 15 asks a window to show: a model with 8-bar windows sees 2 of them on each side,
    one with 12-bar windows all 4, for a longer prompt. From nothing, as `infill_timing`."""
    from ..engine.generation import step_prompts

    piece, request = bench_piece(bars=12), _request(first_bar=4)
    best = _best_infill(engine, piece, request)
    return {
        "wide_prompt_tokens": float(len(step_prompts(engine, piece, request)[0])),
        "wide_first_bar_ms": best.first_bar_ms,
        "wide_total_ms": best.total_ms,
    }


# -- backends ----------------------------------------------------------------------------------


def ort_stepper(engine: object, prompt: list[int]) -> tuple:
    """(prefill, step) of the engine for timing.timed_loop, as midigpt_stepper's for midigpt."""

    def prefill() -> object:  # all of it: without forget() the kept prompt would be reused
        engine.forget()
        return engine.prefill([prompt])

    return prefill, lambda _, t: engine.step(np.array([t]))


def ort_decode(engine: object, prompt: list[int]) -> dict[str, float]:
    prefill, step = ort_stepper(engine, prompt)
    prefill_ms, _ = best_ms(prefill)
    out = timed_loop(prefill, step)
    return {"prefill_ms": prefill_ms, **out, "tokens_per_s": 1e3 / out["decode_ms_per_token"]}


def top1_agreement(reference: object, other: object, prompt: list[int], n: int = 256) -> float:
    """Share of positions where both engines' argmax agree, along the reference's greedy path."""
    a, b = reference.prefill([prompt]), other.prefill([prompt])
    vocab = len(reference.vocab)
    same = 0
    for _ in range(n):
        tok = int(np.argmax(a[0, :vocab]))
        same += tok == int(np.argmax(b[0, :vocab]))
        if reference.room() < 2:
            break
        a, b = reference.step(np.array([tok])), other.step(np.array([tok]))
    return same / n


# -- the floor ---------------------------------------------------------------------------------


def _kv_width(meta: dict) -> int:
    """Width of the key (or value) projection: narrower than the model with grouped heads."""
    return meta["kv_heads"] * meta["head_dim"]


def weight_bytes(meta: dict) -> float:
    """fp32 bytes a GPT-2 decode step must read: every block weight and the LM head (the token
    and position embeddings contribute one row each)."""
    d, layers, vocab = meta["hidden_size"], meta["layers"], meta["embedding_rows"]
    kv = _kv_width(meta)
    per_layer = 10 * d * d + 2 * d * kv + 11 * d + 2 * kv
    return 4.0 * (layers * per_layer + 2 * d + vocab * d + 2 * d)


def decode_flops(meta: dict, past: int) -> float:
    """Floating-point operations of one GPT-2 decode step after `past` tokens: two per weight
    multiply-add (blocks and LM head) plus attention's two products over the cache (every
    query head reads its group's keys and values, so grouping does not change those)."""
    d, layers, vocab = meta["hidden_size"], meta["layers"], meta["embedding_rows"]
    kv = _kv_width(meta)
    weights = layers * (10 * d * d + 2 * d * kv) + vocab * d
    return 2.0 * weights + 4.0 * layers * d * (past + 1)


def matmul_flops(n: int = 1024) -> float:
    """FLOP/s of an fp32 n x n matrix product on `THREADS` threads (best of 5): the compute
    roofline. A decode step at batch 1 is matrix-vector work, which reaches less of this than a
    matrix product does; where the weights fit in the caches (the default model's 21 MB do in a
    large L3) this, not DRAM bandwidth, is the floor that can bind."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(5):
        with Stopwatch() as sw:
            torch.mm(a, b)
        best = min(best, sw.wall)
    return 2.0 * n**3 / best


def copy_bandwidth(mb: int = 256) -> float:
    """Bytes per second copied by `THREADS` threads over a buffer far larger than the caches
    (best of 5): the most weight bytes the machine can stream per second."""
    src = np.ones(mb * 2**20 // 8)
    dst = np.empty_like(src)
    parts = np.array_split(np.arange(len(src)), THREADS)
    bounds = [(p[0], p[-1] + 1) for p in parts]
    best = float("inf")
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(5):
            with Stopwatch() as sw:
                list(pool.map(lambda r: np.copyto(dst[r[0] : r[1]], src[r[0] : r[1]]), bounds))
            best = min(best, sw.wall)
    return src.nbytes / best


# -- bundles -----------------------------------------------------------------------------------


def _random_bundle(name: str, layers: int, width: int, heads: int,
                   quantize: bool) -> tuple[Path, Path | None]:  # fmt: skip
    """fp32 (optimised) bundle, and an int8 twin when `quantize`; exported once, then cached."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from midigen.exporter.cli import main as export

    from ..language import vocab as vocab_mod

    root = CACHE / name
    src, fp32, int8 = root / "src", root / "fp32", root / "int8"
    if not (src / "config.json").is_file():
        torch.manual_seed(0)
        config = GPT2Config(
            vocab_size=len(vocab_mod.load()), n_positions=1024, n_embd=width, n_layer=layers,
            n_head=heads, midigen_window_bars=8, midigen_max_tracks=4,
        )  # fmt: skip
        GPT2LMHeadModel(config).save_pretrained(src)
    common = ["-q", "--threads", str(THREADS), "--optimize"]
    if not _current(fp32):
        assert export([str(src), "-o", str(fp32), "--force", *common]) == 0
    if not quantize:
        return fp32, None
    if not _current(int8):
        args = [str(src), "-o", str(int8), "--force", "--int8", "--min-agreement", "0", *common]
        assert export(args) == 0
    return fp32, int8


def _current(bundle: Path) -> bool:
    """A cached bundle made by this exporter's --optimize (the fused graph), not an older one."""
    path = bundle / "midigen.json"
    if not path.is_file():
        return False
    meta = json.loads(path.read_text())
    conversion = meta["optimization"].get("conversion") or {}
    int8_ok = meta["dtype"] != "int8" or conversion.get("per_channel", False)
    return meta.get("kv_cache") == "shared" and int8_ok


def _status_mb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    return _status_mb("VmHWM")
