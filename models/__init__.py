"""Model bundles shipped with midigen; the embedded default model lives in a subfolder."""

from __future__ import annotations

from pathlib import Path


def default_bundle() -> Path | None:
    """The first bundle folder here (sorted by name), which `midigen-server` and `midigen`
    use when neither --model nor $MIDIGEN_MODEL names one; None when none is installed."""
    root = Path(__file__).resolve().parent
    try:
        bundles = sorted(d for d in root.iterdir() if (d / "midigen.json").is_file())
    except OSError:
        return None
    return bundles[0] if bundles else None
