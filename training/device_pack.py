"""Pack what a GPU training run needs that git does not hold, for the device machine.

    python -m training.device_pack [--out device-pack] [--cache DIR] [--pop909 DIR]

The device machine (docs: the workplace's `device` tool) gets a copy of the working tree plus the
ignored paths a call names in `carry`, 64 MiB in all, and reaches no network. The tree has the
code and the warm-start weights (models/midigen-base-fp32); the training data does not: the
prepared corpus cache (~/.cache/midigen/corpus, 30-50 minutes of music21 parsing to rebuild) and
the POP909 songs (../shared/data/pop909) live outside it. This writes, into `--out`
(git-ignored):

- `data.tar.xz`: `corpus/` and `pop909/` (~14 MB compressed);
- `site/`: pure-Python packages training imports that a bare torch image may lack (mido and
  packaging), copied from this environment; training/device_train.sh puts them last on the
  path, so the machine's own copies win;
- `pack.json`: what went in, from where, and the sizes.

It refuses (exit 1, nothing left half-written) when the pack and the tracked tree together
would not fit the carry limit. training/device_train.sh is the call that uses it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from training import corpus, pop909

REPO = Path(__file__).resolve().parents[1]
LIMIT = 64 << 20  # bytes a device call carries: the working tree and the carried paths
SITE_PACKAGES = ("mido", "packaging")


def tree_bytes(repo: Path = REPO) -> int:
    """Bytes of the files git tracks (what a device call copies besides `carry`)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True)
    names = [n for n in out.stdout.decode().split("\0") if n]
    return sum((repo / n).stat().st_size for n in names if (repo / n).is_file())


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(out: Path, cache: Path, songs: Path, tree: int, limit: int = LIMIT) -> dict:
    """Write the pack into `out` (replaced whole, only once complete); its pack.json record."""
    for name, path in (("corpus cache", cache), ("POP909 folder", songs)):
        if not path.is_dir() or not any(path.iterdir()):
            raise ValueError(f"{name} {path} is missing or empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        with tarfile.open(staging / "data.tar.xz", "w:xz", preset=6) as tar:
            tar.add(cache, arcname="corpus")
            tar.add(songs, arcname="pop909")
        for name in SITE_PACKAGES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise ValueError(f"{name} is not installed here: install the training extras")
            shutil.copytree(Path(spec.origin).parent, staging / "site" / name,
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        size = folder_bytes(staging)
        record = {
            "corpus": str(cache),
            "pop909": str(songs),
            "site": list(SITE_PACKAGES),
            "pack_bytes": size,
            "tree_bytes": tree,
            "limit_bytes": limit,
        }
        if size + tree > limit:
            raise ValueError(f"the pack ({size / 2**20:.1f} MiB) and the tracked tree "
                             f"({tree / 2**20:.1f} MiB) exceed the {limit / 2**20:.0f} MiB "
                             "a device call carries")  # fmt: skip
        (staging / "pack.json").write_text(json.dumps(record, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
        return record
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.device_pack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=REPO / "device-pack")
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE, help="corpus cache")
    parser.add_argument("--pop909", type=Path, default=pop909.DEFAULT_ROOT, help="POP909 songs")
    args = parser.parse_args(argv)
    try:
        record = build(args.out, args.cache, args.pop909, tree_bytes())
    except (ValueError, OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"device_pack: {e}")
    print(f"{args.out}: {record['pack_bytes'] / 2**20:.1f} MiB "
          f"(+ {record['tree_bytes'] / 2**20:.1f} MiB tracked tree, limit "
          f"{record['limit_bytes'] / 2**20:.0f} MiB)")  # fmt: skip


if __name__ == "__main__":
    main()
