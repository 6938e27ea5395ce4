"""The decoding engine: one ONNX Runtime session over a model bundle, and its KV cache.

It knows nothing about music: it takes token prompts for a batch of rows (the variations of one
request), prefills once, then advances every row one token per step and hands back the last
position's logits. Planning, prompting and sampling live in generation.py and sampling.py.

The cache never leaves the session's device: outputs are bound with IO binding and the present
tensors of one step are bound, as they are, as the past of the next (on CUDA they stay in GPU
memory; on CPU no numpy copy is made). Rows share one cache length, so a row that must forget
tokens (a rejected bar) or has finished is handled with the attention mask and its own position
ids instead of cutting its cache: the model never sees the masked tokens again, and the other
rows carry on untouched.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from midigen.exporter.bundle import Bundle, load_bundle

from .vocab import Vocabulary

log = logging.getLogger("midigen.engine")

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class EngineError(RuntimeError):
    """The engine cannot do what was asked (device missing, context full); one line for users."""


def _gpu_present() -> bool:
    """A cheap look for an NVIDIA GPU before asking ORT, whose failed CUDA load is slow and loud."""
    return os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None


def choose_providers(device: str) -> tuple[list[str], str]:
    """Providers to try for `device`, and why (for the one-line log)."""
    import onnxruntime as ort

    if device not in DEVICES:
        raise EngineError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cpu":
        return [CPU], "asked for --device cpu"
    built = CUDA in ort.get_available_providers()
    if device == "cuda":
        if not built:
            raise EngineError("--device cuda: this onnxruntime has no CUDA provider")
        return [CUDA, CPU], "asked for --device cuda"
    if not built:
        return [CPU], "this onnxruntime has no CUDA provider"
    if not _gpu_present():
        return [CPU], "no NVIDIA GPU found"
    return [CUDA, CPU], "an NVIDIA GPU is present"


class Engine:
    """A bundle loaded for decoding. Not thread-safe: one generation at a time per engine."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0):
        import onnxruntime as ort

        self.bundle: Bundle = load_bundle(path)
        meta = self.bundle.meta
        self.vocab: Vocabulary = self.bundle.vocabulary()
        self.layers, self.kv_heads, self.head_dim = (
            meta["layers"],
            meta["kv_heads"],
            meta["head_dim"],
        )
        self.context_length: int = meta["context_length"]
        self.window_bars: int = meta["window_bars"]
        self.max_tracks: int = meta["max_tracks"]
        self.past_names = self.bundle.input_names[3:]
        self.present_names = self.bundle.output_names[1:]

        providers, why = choose_providers(device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        level = 4 if providers[0] == CUDA else 3  # a failed CUDA load is reported below, once
        ort.set_default_logger_severity(level)
        try:
            self.session = ort.InferenceSession(
                str(self.bundle.model_path), options, providers=providers
            )
        finally:
            ort.set_default_logger_severity(3)
        active = self.session.get_providers()[0]
        if providers[0] == CUDA and active != CUDA:
            if device == "cuda":
                raise EngineError("--device cuda: the CUDA provider failed to load (CUDA/cuDNN?)")
            why = "the CUDA provider failed to load (CUDA/cuDNN libraries?)"
        self.device = "cuda" if active == CUDA else "cpu"
        log.info(
            "engine: %s on %s (%s); %d layers x %d wide, %s",
            self.bundle.path.name,
            self.device,
            why,
            self.layers,
            meta["hidden_size"],
            meta["dtype"],
        )
        self.model_seconds = 0.0  # time inside session runs, for the generation's report
        self.steps = 0
        self._binding = self.session.io_binding()
        self._past: list = []
        self._mask = np.zeros((0, 0), np.int64)
        self._positions = np.zeros(0, np.int64)
        self._length = 0

    # -- state -----------------------------------------------------------------------------
    @property
    def batch(self) -> int:
        return len(self._positions)

    @property
    def length(self) -> int:
        """Cache length shared by all rows (masked tokens included)."""
        return self._length

    def positions(self) -> np.ndarray:
        """Next position id of every row (its count of tokens the model still sees)."""
        return self._positions.copy()

    def room(self) -> int:
        """Tokens that still fit before the cache reaches the model's context length."""
        return self.context_length - self._length

    # -- decoding --------------------------------------------------------------------------
    def prefill(self, prompts: Sequence[Sequence[int]]) -> np.ndarray:
        """Start a batch, one row per prompt; returns the logits for every row's next token.

        Equal prompts (variations of one request) are run once at batch 1 and the cache is
        repeated, so K variations cost one prefill. Different prompts are left-padded; the pads
        are masked out and each row's positions start at 0 on its first real token."""
        if not prompts or any(len(p) == 0 for p in prompts):
            raise EngineError("prefill needs at least one non-empty prompt")
        longest = max(len(p) for p in prompts)
        if longest >= self.context_length:
            raise EngineError(
                f"prompt of {longest} tokens does not fit the model's context "
                f"({self.context_length}); select fewer bars or tracks"
            )
        batch = len(prompts)
        shared = all(list(p) == list(prompts[0]) for p in prompts[1:])
        rows = 1 if shared else batch
        ids = np.zeros((rows, longest), np.int64)
        mask = np.zeros((rows, longest), np.int64)
        positions = np.zeros((rows, longest), np.int64)
        for r in range(rows):
            n = len(prompts[r])
            ids[r, longest - n :] = prompts[r]
            mask[r, longest - n :] = 1
            positions[r, longest - n :] = np.arange(n)
        empty = np.zeros((rows, self.kv_heads, 0, self.head_dim), np.float32)
        logits, present = self._run(ids, mask, positions, [empty] * len(self.past_names))
        logits = logits[:, -1, :]
        lengths = np.array([len(p) for p in prompts], np.int64)
        if shared and batch > 1:
            logits = np.repeat(logits, batch, axis=0)
            present = [self._repeat(v, batch) for v in present]
            mask = np.repeat(mask, batch, axis=0)
        self._past = present
        self._mask = np.zeros((batch, self.context_length), np.int64)
        self._mask[:, :longest] = mask
        self._positions = lengths
        self._length = longest
        return logits

    def step(self, tokens: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Feed one token per row; rows where `active` is False (finished) are masked out.
        Returns the next-token logits, (batch, embedding rows)."""
        if self._length >= self.context_length:
            raise EngineError(f"the model's context ({self.context_length} tokens) is full")
        batch = self.batch
        live = np.ones(batch, bool) if active is None else np.asarray(active, bool)
        ids = np.where(live, tokens, 0).astype(np.int64).reshape(batch, 1)
        self._mask[:, self._length] = live
        self._length += 1
        mask = np.ascontiguousarray(self._mask[:, : self._length])
        positions = self._positions.reshape(batch, 1).copy()
        logits, self._past = self._run(ids, mask, positions, self._past)
        self._positions += live
        return logits[:, -1, :]

    def rewind(self, row: int, length: int, position: int) -> None:
        """Make `row` forget every token from cache index `length` on and continue at position
        `position`: what retries use to resample a bar without disturbing the other rows."""
        self._mask[row, length : self._length] = 0
        self._positions[row] = position

    def _run(
        self, ids: np.ndarray, mask: np.ndarray, positions: np.ndarray, past: list
    ) -> tuple[np.ndarray, list]:
        """One session run through IO binding; the presents come back as device OrtValues."""
        binding = self._binding
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        binding.bind_cpu_input("input_ids", ids)
        binding.bind_cpu_input("attention_mask", mask)
        binding.bind_cpu_input("position_ids", positions)
        for name, value in zip(self.past_names, past):
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(name, value)
            else:
                binding.bind_ortvalue_input(name, value)
        binding.bind_output("logits", "cpu")  # small: one position per row after the prefill
        for name in self.present_names:
            binding.bind_output(name, self.device)  # fresh buffers: the old past stays valid
        t0 = time.perf_counter()
        self.session.run_with_iobinding(binding)
        outputs = binding.get_outputs()
        logits = outputs[0].numpy()
        self.model_seconds += time.perf_counter() - t0
        self.steps += 1
        return logits, list(outputs[1:])

    def _repeat(self, value: object, batch: int) -> object:
        """A batch-1 cache tensor repeated to `batch` rows. This one copy per request goes
        through host memory on CUDA (ORT has no device-side repeat); decoding steps do not."""
        import onnxruntime as ort

        host = np.repeat(value.numpy(), batch, axis=0)
        if self.device == "cpu":
            return host  # bound as a numpy input: ORT reads it in place
        return ort.OrtValue.ortvalue_from_numpy(host, "cuda", 0)
