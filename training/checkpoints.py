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
