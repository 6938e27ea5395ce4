"""The model bundle folder: model.onnx (+ model.onnx.data) and midigen.json.

This module is what midigen-server reads, so it imports neither torch nor transformers. The
format is documented in docs/bundle-format.md; bump FORMAT_VERSION when a reader would misread a
new bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FORMAT = "midigen-bundle"
FORMAT_VERSION = 1
META_FILE = "midigen.json"
MODEL_FILE = "model.onnx"
# training/quantization.py's held-out int8 report, kept by the model card in the bundle it measured
INT8_REPORT = "int8-heldout.json"
DTYPES = ("fp32", "fp16", "int8")
# growing: the traced graph, past in and past + new out, an attention mask; shared: the fused
# graph, one buffer per layer of the full context bound as both past and present, row lengths.
KV_CACHES = ("growing", "shared")
FIRST_INPUTS = {
    "growing": ["input_ids", "attention_mask", "position_ids"],
    "shared": ["input_ids", "position_ids", "seqlens_k", "total_sequence_length"],
}

REQUIRED = {
    "format": str,
    "format_version": int,
    "architecture": str,
    "layers": int,
    "heads": int,
    "kv_heads": int,
    "head_dim": int,
    "hidden_size": int,
    "context_length": int,
    "vocab_size": int,
    "embedding_rows": int,
    "window_bars": int,
    "max_tracks": int,
    "dtype": str,
    "model_file": str,
    "io": dict,
    "language": dict,
    "source": dict,
    "tools": dict,
    "parity": dict,
}


class BundleError(Exception):
    """A folder that is not a usable bundle; the message is one line."""


@dataclass
class Bundle:
    path: Path
    meta: dict

    @property
    def model_path(self) -> Path:
        return self.path / self.meta["model_file"]

    @property
    def prefill_path(self) -> Path | None:
        """The twin graph prompts run through (exporter/prefill_graph.py), if the bundle has one."""
        name = self.meta.get("prefill_model_file")
        return self.path / name if name else None

    @property
    def layers(self) -> int:
        return self.meta["layers"]

    @property
    def input_names(self) -> list[str]:
        return list(self.meta["io"]["inputs"])

    @property
    def kv_cache(self) -> str:
        return self.meta["kv_cache"]

    @property
    def past_names(self) -> list[str]:
        return self.input_names[len(FIRST_INPUTS[self.kv_cache]) :]

    @property
    def output_names(self) -> list[str]:
        return list(self.meta["io"]["outputs"])

    def weights_sha256(self) -> str:
        """One digest of the step graph and its external weights: ties a measurement made on a
        bundle (training/quantization.py's held-out agreement) to exactly these numbers."""
        import hashlib

        digest = hashlib.sha256()
        data = self.meta.get("external_data")
        for path in (self.model_path, *([self.path / data] if data else [])):
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    def vocabulary(self) -> object:
        """The bundle's own language, so encoder and model cannot drift apart."""
        from midigen.server.language.vocab import Vocabulary

        return Vocabulary(self.meta["language"])

    def session(self, providers: list[str] | None = None) -> object:
        import onnxruntime as ort

        return ort.InferenceSession(
            str(self.model_path), providers=providers or ["CPUExecutionProvider"]
        )


def load_bundle(path: str | Path) -> Bundle:
    """Read and validate midigen.json; raises BundleError saying what is wrong."""
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise BundleError(f"{path}: not a model bundle (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise BundleError(f"{meta_path}: unreadable: {e}") from e
    if meta.get("format") != FORMAT:
        raise BundleError(f"{meta_path}: format is {meta.get('format')!r}, not {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{meta_path}: bundle format version {meta.get('format_version')} is not "
            f"{FORMAT_VERSION}; re-export it with this midigen-export"
        )
    for key, kind in REQUIRED.items():
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BundleError(f"{meta_path}: field {key!r} missing or not {kind.__name__}")
    if meta["dtype"] not in DTYPES:
        raise BundleError(f"{meta_path}: dtype {meta['dtype']!r} is not one of {DTYPES}")
    cache = meta.setdefault("kv_cache", "growing")  # bundles from before the fused graph
    if cache not in KV_CACHES:
        raise BundleError(f"{meta_path}: kv_cache {cache!r} is not one of {KV_CACHES}")
    first = FIRST_INPUTS[cache]
    expected_inputs = first + [
        f"past_key_values.{i}.{kv}" for i in range(meta["layers"]) for kv in ("key", "value")
    ]
    expected_outputs = ["logits"] + [
        f"present.{i}.{kv}" for i in range(meta["layers"]) for kv in ("key", "value")
    ]
    if list(meta["io"].get("inputs", {})) != expected_inputs:
        raise BundleError(f"{meta_path}: io.inputs do not match {meta['layers']} layers")
    if list(meta["io"].get("outputs", {})) != expected_outputs:
        raise BundleError(f"{meta_path}: io.outputs do not match {meta['layers']} layers")
    if len(meta["language"].get("tokens", [])) != meta["vocab_size"]:
        raise BundleError(f"{meta_path}: language token list is not vocab_size long")
    if not (path / meta["model_file"]).is_file():
        raise BundleError(f"{path}: {meta['model_file']} is missing")
    data = meta.get("external_data")
    if data and not (path / data).is_file():
        raise BundleError(f"{path}: external data file {data} is missing")
    prefill = meta.setdefault("prefill_model_file", None)
    if prefill is not None and (not isinstance(prefill, str) or cache != "shared"):
        raise BundleError(f"{meta_path}: prefill_model_file needs kv_cache 'shared' and a name")
    if prefill and not (path / prefill).is_file():
        raise BundleError(f"{path}: prefill graph {prefill} is missing")
    return Bundle(path, meta)


def write_meta(folder: Path, meta: dict) -> None:
    (folder / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")


@contextmanager
def atomic_folder(dest: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to dest that becomes dest only if the block succeeds, so a
    failed or interrupted export never leaves a half-written bundle where the server looks."""
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest}: already exists (use --force to replace it)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the bundle from a server user
    try:
        yield tmp
        if dest.exists():  # replace: move the old one aside first, so dest is never half-there
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
