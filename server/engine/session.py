"""The decoding engine: one ONNX Runtime session over a model bundle, and its KV cache.

It knows nothing about music: it takes token prompts for a batch of rows (the variations of one
request), prefills once, then advances every row one token per step and hands back the last
position's logits. Planning, prompting and sampling live in generation.py and sampling.py; the
two kinds of cache a bundle can have (growing for traced graphs, shared in-place buffers for
fused ones) live in kvcache.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from midigen.exporter.bundle import Bundle, load_bundle

from ..language.vocab import Vocabulary
from .kvcache import EngineError, GrowingCache, SharedCache

__all__ = ["DEVICES", "Engine", "EngineError", "choose_providers", "will_use_cuda"]

log = logging.getLogger("midigen.engine")

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def _gpu_present() -> bool:
    """A cheap look for an NVIDIA GPU before asking ORT, whose failed CUDA load is slow and loud."""
    return os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None


def will_use_cuda(device: str) -> bool:
    """Whether an engine made with `device` tries CUDA first (the choice of default bundle
    depends on it, before any bundle is loaded)."""
    try:
        return choose_providers(device)[0][0] == CUDA
    except EngineError:
        return False


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
        self.past_names = self.bundle.past_names
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
        if self.device == "cuda" and self.bundle.kv_cache == "shared":
            log.warning(
                "engine: %s is a fused CPU bundle; ONNX Runtime's CUDA GroupQueryAttention takes "
                "fp16 only, so attention runs on the CPU. For GPUs export with --optimize --fp16",
                self.bundle.path.name,
            )
        # Prompts run through the bundle's prefill twin where it has one: on the CPU its
        # unfused layer norms make a prompt ~10 % faster, and a one-token step slower
        # (exporter/prefill_graph.py). Same weights, so it costs a second copy in memory only.
        self.prefill_session = self.session
        twin = self.bundle.prefill_path
        if twin is not None and self.device == "cpu":
            self.prefill_session = ort.InferenceSession(str(twin), options, providers=[CPU])
        self.model_seconds = 0.0  # time inside session runs, for the generation's report
        self.steps = 0
        if self.bundle.kv_cache == "shared":
            self._cache = SharedCache(self.session, meta, self.past_names, self.present_names,
                                      self.device, self._run, self.prefill_session)  # fmt: skip
        else:
            self._cache = GrowingCache(self.session, meta, self.past_names, self.present_names,
                                       self.device, self._run)  # fmt: skip

    # -- state -----------------------------------------------------------------------------
    @property
    def batch(self) -> int:
        return len(self._cache.positions)

    @property
    def length(self) -> int:
        """The longest row's cache length (masked tokens included)."""
        return self._cache.length

    def positions(self) -> np.ndarray:
        """Next position id of every row (its count of tokens the model still sees)."""
        return np.array(self._cache.positions, np.int64)

    def room(self) -> int:
        """Tokens that still fit before the cache reaches the model's context length."""
        return self._cache.room()

    # -- decoding --------------------------------------------------------------------------
    def prefill(self, prompts: Sequence[Sequence[int]], keep: bool = False,
                stop: Callable[[], bool] | None = None) -> np.ndarray | None:  # fmt: skip
        """Start a batch, one row per prompt; returns the logits for every row's next token.
        Equal prompts (variations of one request) cost one batch-1 prefill, and on the CPU
        only the part after the prefix they share with a kept prompt is computed; `keep` keeps
        this one (a request's first window step, which generating again repeats). On the CPU
        the prompt runs in chunks and `stop` is asked before each: a cancel need not wait for
        the whole prompt. Stopped, it returns None and the batch must be started again."""
        return self._cache.prefill(prompts, keep, stop)

    def forget(self) -> None:
        """Drop the prompt caches kept for later requests (kvcache.SharedCache): the next
        prefill computes every token, as a server's first request does."""
        self._cache.forget()

    @property
    def prompt_tokens(self) -> tuple[int, int]:
        """(computed, reused) prompt tokens over the engine's life: how much prefill the kept
        prompt cache saved."""
        return self._cache.prefilled, self._cache.reused

    def step(self, tokens: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Feed one token per row; rows where `active` is False (finished) sit the step out.
        Returns the next-token logits, (batch, embedding rows)."""
        live = np.ones(self.batch, bool) if active is None else np.asarray(active, bool)
        return self._cache.step(np.asarray(tokens), live)

    def mark(self, row: int) -> object:
        """Where `row` is now, for a later rewind (what retries come back to)."""
        return self._cache.mark(row)

    def rewind(self, row: int, mark: object) -> None:
        """Make `row` forget every token fed since `mark`, without disturbing the other rows."""
        self._cache.rewind(row, mark)

    def _run(self, session: object, binding: object) -> None:
        t0 = time.perf_counter()
        session.run_with_iobinding(binding)
        self.model_seconds += time.perf_counter() - t0
        self.steps += 1
