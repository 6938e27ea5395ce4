"""Model bundles shipped with midigen; the embedded default model lives in a subfolder."""

from __future__ import annotations

import json
from pathlib import Path


def default_bundle(gpu: bool = False) -> Path | None:
    """The bundle `midigen-server` and `midigen` use when neither --model nor $MIDIGEN_MODEL
    names one: the first bundle folder here by name, or None when none is installed.

    With `gpu` (the engine will run on CUDA) the first that is not int8: an int8 bundle is the
    fastest on CPUs, but ONNX Runtime runs its quantised matrix products on the CPU only."""
    root = Path(__file__).resolve().parent
    try:
        bundles = sorted(d for d in root.iterdir() if (d / "midigen.json").is_file())
    except OSError:
        return None
    if gpu:
        wide = [d for d in bundles if _dtype(d) != "int8"]
        bundles = wide or bundles
    return bundles[0] if bundles else None


def _dtype(bundle: Path) -> str | None:
    try:
        return json.loads((bundle / "midigen.json").read_text()).get("dtype")
    except (OSError, ValueError):
        return None
