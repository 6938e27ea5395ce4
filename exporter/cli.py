"""midigen-export: a training checkpoint in, a parity-checked bundle for midigen-server out."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import platform
import sys
import tempfile
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from .bundle import FORMAT, FORMAT_VERSION, MODEL_FILE, atomic_folder, load_bundle

PROG = "midigen-export"
DEFAULT_WINDOW_BARS = 4
DEFAULT_MAX_TRACKS = 8

EXAMPLES = """\
examples:
  midigen-export runs/midi-gpt2/ -o models/gpt2-small
      a Hugging Face folder (config.json + model.safetensors or pytorch_model.bin)
  midigen-export out/ckpt.pt -o models/piano --window-bars 8 --max-tracks 1
      a nanoGPT checkpoint (model_args + model)
  midigen-export lightning_logs/version_0/checkpoints/last.ckpt -o models/loop --optimize
      a PyTorch Lightning checkpoint as the fused graph (what CPU serving wants)
  midigen-export ckpt.pt -o models/piano-int8 --optimize --int8
      the fused graph with dynamically quantised weights for CPU serving
  midigen-export hf-dir/ -o models/gpu --optimize --fp16 --vocab my-language.json
      mixed precision for GPU, with a vocabulary other than midigen's own

Every export checks parity between torch and ONNX Runtime and aborts, leaving nothing behind,
when it fails. The bundle format is described in docs/bundle-format.md.
"""


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Export a MIDI language model checkpoint to an ONNX bundle for midigen-server.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="Hugging Face model folder, nanoGPT .pt or Lightning .ckpt")
    p.add_argument("-o", "--output", required=True, help="bundle folder to create")
    p.add_argument(
        "--vocab",
        help="language JSON (default: the checkpoint folder's "
        "language.json, as training writes it, else midigen's own)",
    )
    p.add_argument(
        "--config", help="model config JSON for checkpoints that lack one (HF config or model_args)"
    )
    p.add_argument(
        "--window-bars",
        type=_count,
        help=f"bars per window W the model was trained for (default: checkpoint's, else "
        f"{DEFAULT_WINDOW_BARS})",
    )
    p.add_argument(
        "--max-tracks",
        type=_count,
        help=f"max tracks T the model was trained for (default: checkpoint's, else "
        f"{DEFAULT_MAX_TRACKS})",
    )
    p.add_argument("--opset", type=int, choices=(17, 18), default=17, help="ONNX opset (17)")
    p.add_argument(
        "--optimize",
        action="store_true",
        help="GPT2 family without --fp16: build the fused graph (GroupQueryAttention over an "
        "in-place KV cache); otherwise apply ORT's transformer fusions",
    )
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="mixed fp16 weights (for GPU)")
    precision.add_argument("--int8", action="store_true", help="int8 dynamic quantisation (CPU)")
    p.add_argument(
        "--min-agreement",
        type=_fraction,
        default=0.9,
        help="top-1 agreement with torch that --fp16/--int8 must reach (default 0.9)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing bundle folder")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow checkpoints holding Python objects (runs their pickle code: trusted only)",
    )
    p.add_argument(
        "--threads",
        type=_count,
        help="CPU threads for the torch and ORT parity runs (default: the libraries' own)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    p.add_argument("--traceback", action="store_true", help="show the traceback on errors")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        bundle = export_bundle(args)
    except Exception as e:  # every failure is one line on stderr and a non-zero exit
        if args.traceback:
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"wrote {bundle}")
    return 0


def export_bundle(args: argparse.Namespace) -> Path:
    """Load, check, export, verify; the bundle folder appears only when all of it succeeded."""
    _quiet_libraries()
    import torch
    from tqdm import tqdm

    out = Path(args.output)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out}: already exists (use --force to replace it)")
    vocab = _load_vocab(args.vocab, args.checkpoint)
    progress = not args.quiet
    log = (lambda line: tqdm.write(line)) if progress else (lambda line: None)
    stages = ["load", "export", "parity"] + ["optimize"] * args.optimize
    stages += ["fp16"] * args.fp16 + ["int8"] * args.int8 + ["write"]
    bar = tqdm(total=len(stages), desc=PROG, unit="stage", disable=not progress)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)  # tiny models on busy machines: 1 is much faster
    try:
        _run_stages(args, out, vocab, bar, log)
    finally:
        torch.set_num_threads(threads)
        bar.close()
    return out


def _run_stages(
    args: argparse.Namespace, out: Path, vocab: object, bar: object, log: Callable
) -> None:
    import onnx

    from . import fused_graph, onnx_export, parity, prefill_graph
    from .bundle import write_meta
    from .checkpoints import check_vocab_size, load_checkpoint
    from .wrapper import KVCacheWrapper

    def stage(name: str) -> None:
        bar.set_postfix_str(name)

    progress = not args.quiet
    stage("load")
    loaded = load_checkpoint(args.checkpoint, args.config, args.trust_pickle)
    info = loaded.info
    check_vocab_size(info.embedding_rows, len(vocab))
    reference = parity.cached(parity.torch_runner(KVCacheWrapper(loaded.model, info.layers).eval()))
    bar.update()

    # --optimize builds the fused graph (GroupQueryAttention over a shared in-place cache) where
    # it can; fp16 bundles are for GPUs, whose GroupQueryAttention kernels and IO binding want
    # the traced signature's fp32 cache I/O, so they keep the traced graph + ORT's fusions.
    why_not = fused_graph.unsupported(loaded.model, info) if args.optimize else "not asked"
    fused = why_not is None and not args.fp16
    # A GPT2 with grouped key/value heads (kvgroups.py) caches its repeated heads in torch and
    # in the traced graph; only the fused graph keeps the narrower cache.
    fused_info = dataclasses.replace(info, kv_heads=fused_graph.kv_heads(loaded.model, info))

    def check(path: Path, precision: str, what: str, shared: bool = False) -> dict:
        session = onnx_export.session(path, args.threads or 0)
        runner = parity.shared_runner(session, info, fused_info.kv_heads) if shared \
            else parity.ort_runner(session)  # fmt: skip
        cases = parity.SHARED_CASES if shared else parity.CASES
        report = parity.check(
            reference, runner, info, len(vocab), precision, args.min_agreement,
            progress=progress, which=cases,
        )  # fmt: skip
        log(f"parity after {what}: {parity.summary(report)}")
        parity.require(report, what)
        return report

    reports, fusions, conversion = {}, None, None
    with tempfile.TemporaryDirectory(prefix="midigen-export-") as scratch:
        current = Path(scratch) / "fp32.onnx"
        stage("export")
        onnx_export.export(loaded.model, info, current, args.opset)
        bar.update()
        stage("parity")
        reports["export"] = check(current, "fp32", "export")
        bar.update()
        if args.optimize:
            stage("optimize")
            optimized = Path(scratch) / "optimized.onnx"
            if fused:
                fused_graph.build(loaded.model, fused_info, optimized, args.opset)
                fusions = fused_graph.operator_counts(optimized)
                log(f"fused graph: {fusions}")
            else:
                fusions = onnx_export.optimize(current, optimized, info)
                log(f"ORT fusions: {fusions or 'none applied'} (no fused graph: {why_not})")
            reports["optimize"] = check(optimized, "fp32", "optimisation", fused)
            current = optimized
            bar.update()
        if args.fp16 or args.int8:
            dtype = "fp16" if args.fp16 else "int8"
            stage(dtype)
            converted = Path(scratch) / f"{dtype}.onnx"
            convert = onnx_export.to_fp16 if args.fp16 else onnx_export.to_int8
            conversion = convert(current, converted)
            reports[dtype] = check(converted, dtype, f"{dtype} conversion", fused)
            current = converted
            bar.update()

        stage("write")
        with atomic_folder(out, overwrite=args.force) as folder:
            final = onnx.load(str(current))
            # a fused graph always keeps its weights in the data file, which its prefill twin
            # (prefill_graph.py) reads too
            onnx_export.save(final, folder / MODEL_FILE, threshold=0 if fused else None)
            data = folder / (MODEL_FILE + ".data")
            prefill = prefill_graph.write(folder, MODEL_FILE) if fused else None
            if prefill:
                precision = "int8" if args.int8 else "fp32"
                reports["prefill"] = check(folder / prefill, precision, "prefill graph", True)
            meta = _meta(args, fused_info if fused else info, vocab, reports, fusions,
                         conversion, data.exists(), fused, prefill)  # fmt: skip
            write_meta(folder, meta)
            load_bundle(folder)  # the reader the server uses must accept what we wrote
        bar.update()


def _load_vocab(path: str | None, checkpoint: str | None = None) -> object:
    """The language to export with: --vocab, else the checkpoint folder's own language.json
    (training writes one beside every checkpoint, so a model trained on an older language
    exports with its own token ids), else midigen's current language."""
    from midigen.server.language import vocab

    own = Path(checkpoint) / "language.json" if checkpoint else None
    if path is None and own is not None and own.is_file():
        path = str(own)
    try:
        return vocab.load(path)
    except FileNotFoundError:
        if path is not None:
            raise FileNotFoundError(f"{path}: vocabulary file not found") from None
        return vocab.default()
    except ValueError as e:
        raise ValueError(f"{path or 'language.json'}: not a usable language JSON: {e}") from e


def _meta(
    args: argparse.Namespace,
    info: object,
    vocab: object,
    reports: dict,
    fusions: dict | None,
    conversion: dict | None,
    external: bool,
    fused: bool = False,
    prefill: str | None = None,
) -> dict:
    """midigen.json; field meanings are in docs/bundle-format.md."""
    import json

    from . import fused_graph
    from .wrapper import dynamic_axes, input_names, output_names

    axes = dynamic_axes(info.layers)
    past_shape = ["batch_size", info.kv_heads, "past_sequence_length", info.head_dim]
    present_shape = ["batch_size", info.kv_heads, "total_sequence_length", info.head_dim]
    if fused:
        past_shape = present_shape = ["batch_size", info.kv_heads, fused_graph.MAX_AXIS,
                                      info.head_dim]  # fmt: skip
    io_inputs, io_outputs = {}, {}
    names = fused_graph.input_names(info.layers) if fused else input_names(info.layers)
    for name in names:
        if name.startswith("past_key_values."):
            io_inputs[name] = {"dtype": "float32", "shape": past_shape}
        elif name == fused_graph.SEQLENS:
            io_inputs[name] = {"dtype": "int32", "shape": ["batch_size"]}
        elif name == fused_graph.TOTAL_LENGTH:
            io_inputs[name] = {"dtype": "int32", "shape": []}
        else:
            io_inputs[name] = {"dtype": "int64", "shape": [axes[name][0], axes[name][1]]}
    for name in output_names(info.layers):
        if name == "logits":
            shape = ["batch_size", "sequence_length", info.embedding_rows]
            io_outputs[name] = {"dtype": "float32", "shape": shape}
        else:
            io_outputs[name] = {"dtype": "float32", "shape": present_shape}
    window = _first_set(args.window_bars, info.window_bars, DEFAULT_WINDOW_BARS)
    tracks = _first_set(args.max_tracks, info.max_tracks, DEFAULT_MAX_TRACKS)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "architecture": info.architecture,
        "layers": info.layers,
        "heads": info.heads,
        "kv_heads": info.kv_heads,
        "head_dim": info.head_dim,
        "hidden_size": info.hidden_size,
        "context_length": info.context_length,
        "vocab_size": len(vocab),
        "embedding_rows": info.embedding_rows,
        "window_bars": window,
        "max_tracks": tracks,
        "dtype": "fp16" if args.fp16 else "int8" if args.int8 else "fp32",
        "model_file": MODEL_FILE,
        "opset": args.opset,
        "external_data": MODEL_FILE + ".data" if external else None,
        "prefill_model_file": prefill,
        "kv_cache": "shared" if fused else "growing",
        "io": {"inputs": io_inputs, "outputs": io_outputs},
        "optimization": {
            "optimized": bool(args.optimize),
            "fused_operators": fusions or {},
            "conversion": conversion,
        },
        "parity": reports,
        "source": {
            "path": str(Path(args.checkpoint).resolve()),
            "kind": info.source_kind,
            "sha256": info.sha256,
        },
        "tools": _tool_versions(),
        "language": json.loads(vocab.to_json()),
    }


def _first_set(*values: int | None) -> int:
    """Explicit flag, else the checkpoint's value, else the default."""
    return next(v for v in values if v is not None)


def _tool_versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in ("midigen", "torch", "transformers", "onnx", "onnxruntime-gpu", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _quiet_libraries() -> None:
    """transformers and the tracer warn about things that are expected here; the user should see
    our progress and errors, not pages of library chatter."""
    warnings.filterwarnings("ignore", module="torch.onnx")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:
        pass


if __name__ == "__main__":
    sys.exit(main())
