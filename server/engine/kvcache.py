"""The two KV caches a bundle can have (midigen.json `kv_cache`), behind one interface.

Both keep the cache where the session runs (IO binding: on CUDA it stays in GPU memory, on CPU no
numpy copy is made per step) and both let rows of one batch go their own way: a row that must
forget tokens (a rejected bar) is rewound to a mark, and a finished row sits steps out.

- GrowingCache, for the traced graph: past in, past + new out, so each step's present tensors are
  bound as the next step's past. Rows share one cache length; forgetting is done with the
  attention mask and per-row position ids, and prompts of different lengths are left-padded.
- SharedCache, for the fused graph: one buffer per layer, the model's full context long, bound as
  both past and present; GroupQueryAttention writes each new token in place at its row's length.
  A row's length is its position, so forgetting is moving the length back, and prompts of
  different lengths are right-padded. Nothing grows or is copied while decoding. Prompts may
  run through a second session over the same buffers (the bundle's prefill graph, whose
  unfused layer norms are faster over many tokens: exporter/prefill_graph.py).

  On the CPU it also keeps copies of the caches of the last few prompts (up to 4 within 64 MB,
  at least one, each as long as its prompt) it was asked to keep (a request's first window
  step): a musician pressing generate again, or editing a later track, sends a prompt that
  shares a prefix with one of them, and prefill is most of the time to the first bar. Prompts
  run in fixed PREFILL_CHUNK-token pieces from position 0 and reuse resumes at a piece boundary,
  so a reused prefill computes exactly the pieces a fresh one would and its logits are bit for
  bit the same (int8 bundles quantize activations per run, so without the fixed boundaries they
  would not be). The pieces also let a cancel stop a long prompt between two of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class EngineError(RuntimeError):
    """The engine cannot do what was asked (device missing, context full); one line for users."""


Run = Callable[[object, object], None]  # runs a session on a binding, timing and counting it
Stop = Callable[[], bool]  # asked between prefill chunks: True abandons the prefill
PREFILL_CHUNK = 128  # tokens per prefill run: 3-6 % slower than one run on one core (BENCHMARKS)
KEPT_PROMPTS = 4  # prompt caches kept for reuse at most (9.4 MB each for the bench's) ...
KEPT_BYTES = 64 << 20  # ... and as many as fit in this, but always one (GPT2-small: 75 MB at 1k)


def check_prompts(prompts: Sequence[Sequence[int]], context: int) -> None:
    if not prompts or any(len(p) == 0 for p in prompts):
        raise EngineError("prefill needs at least one non-empty prompt")
    longest = max(len(p) for p in prompts)
    if longest >= context:
        raise EngineError(
            f"prompt of {longest} tokens does not fit the model's context "
            f"({context}); select fewer bars or tracks"
        )


class GrowingCache:
    def __init__(self, session: object, meta: dict, past_names: list[str],
                 present_names: list[str], device: str, run: Run):  # fmt: skip
        self.session, self.device, self.run = session, device, run
        self.past_names, self.present_names = past_names, present_names
        self.context = meta["context_length"]
        self.kv_heads, self.head_dim = meta["kv_heads"], meta["head_dim"]
        self.binding = session.io_binding()
        self.past: list = []
        self.mask = np.zeros((0, 0), np.int64)
        self.positions = np.zeros(0, np.int64)
        self.length = 0
        self.prefilled = 0
        self.reused = 0  # always: this cache keeps nothing between prompts

    def room(self) -> int:
        return self.context - self.length

    def forget(self) -> None:
        pass

    def prefill(self, prompts: Sequence[Sequence[int]], keep: bool = False,
                stop: Stop | None = None) -> np.ndarray:  # fmt: skip
        """Equal prompts (variations of one request) run once at batch 1 and the cache is
        repeated; nothing is kept between prompts and the prompt runs in one piece (`keep`
        and `stop` are for SharedCache). Different prompts are left-padded; pads are masked
        out and each row's positions start at 0 on its first real token."""
        check_prompts(prompts, self.context)
        longest = max(len(p) for p in prompts)
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
        self.prefilled += int(mask.sum())
        logits = logits[:, -1, :]
        if shared and batch > 1:
            logits = np.repeat(logits, batch, axis=0)
            present = [self._repeat(v, batch) for v in present]
            mask = np.repeat(mask, batch, axis=0)
        self.past = present
        self.mask = np.zeros((batch, self.context), np.int64)
        self.mask[:, :longest] = mask
        self.positions = np.array([len(p) for p in prompts], np.int64)
        self.length = longest
        return logits

    def step(self, tokens: np.ndarray, live: np.ndarray) -> np.ndarray:
        if self.length >= self.context:
            raise EngineError(f"the model's context ({self.context} tokens) is full")
        batch = len(self.positions)
        ids = np.where(live, tokens, 0).astype(np.int64).reshape(batch, 1)
        self.mask[:, self.length] = live
        self.length += 1
        mask = np.ascontiguousarray(self.mask[:, : self.length])
        positions = self.positions.reshape(batch, 1).copy()
        logits, self.past = self._run(ids, mask, positions, self.past)
        self.positions += live
        return logits[:, -1, :]

    def mark(self, row: int) -> tuple[int, int]:
        return self.length, int(self.positions[row])

    def rewind(self, row: int, mark: tuple[int, int]) -> None:
        length, position = mark
        self.mask[row, length : self.length] = 0
        self.positions[row] = position

    def _run(
        self, ids: np.ndarray, mask: np.ndarray, positions: np.ndarray, past: list
    ) -> tuple[np.ndarray, list]:
        binding = self.binding
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
        self.run(self.session, binding)
        outputs = binding.get_outputs()
        return outputs[0].numpy(), list(outputs[1:])

    def _repeat(self, value: object, batch: int) -> object:
        """A batch-1 cache tensor repeated to `batch` rows. This one copy per request goes
        through host memory on CUDA (ORT has no device-side repeat); decoding steps do not."""
        import onnxruntime as ort

        host = np.repeat(value.numpy(), batch, axis=0)
        if self.device == "cpu":
            return host  # bound as a numpy input: ORT reads it in place
        return ort.OrtValue.ortvalue_from_numpy(host, "cuda", 0)


class SharedCache:
    def __init__(self, session: object, meta: dict, past_names: list[str],
                 present_names: list[str], device: str, run: Run,
                 prefill_session: object | None = None):  # fmt: skip
        self.session, self.device, self.run = session, device, run
        self.prefill_session = prefill_session or session  # prompts: see Engine
        self.past_names, self.present_names = past_names, present_names
        self.context = meta["context_length"]
        self.row_shape = (meta["kv_heads"], self.context, meta["head_dim"])
        self.embedding_rows = meta["embedding_rows"]
        self.lengths = np.zeros(0, np.int64)
        self.arrays: list[np.ndarray] = []  # the CPU buffers' memory
        self.values: list = []  # the buffers as OrtValues
        self.step_binding = None  # bound once per batch size: steps only refill its inputs
        self.kept: list[tuple[list[int], list[np.ndarray]]] = []  # (prompt, its K/V), oldest first
        self.prefilled = 0  # prompt tokens run through the model, over the cache's life
        self.reused = 0  # prompt tokens whose cache was copied from a kept prompt

    @property
    def positions(self) -> np.ndarray:
        return self.lengths

    @property
    def length(self) -> int:
        return int(self.lengths.max(initial=0))

    def room(self) -> int:
        return self.context - self.length

    def prefill(self, prompts: Sequence[Sequence[int]], keep: bool = False,
                stop: Stop | None = None) -> np.ndarray | None:  # fmt: skip
        """Equal prompts run once at batch 1 into row 0's buffers, which are then copied to the
        other rows (on CUDA the rows are simply run together); on the CPU they start from the
        kept prompt they share the longest prefix with, and with `keep` are kept themselves.
        Different prompts are right-padded and run together; each row's length says where its
        tokens end. `stop` is asked between chunks: when it says so, None comes back."""
        check_prompts(prompts, self.context)
        batch = len(prompts)
        self._allocate(batch)
        shared = all(list(p) == list(prompts[0]) for p in prompts[1:])
        if shared and self.device == "cpu":
            logits = self._prefill_row0(list(prompts[0]), batch, keep, stop)
            if logits is None:
                return None
            n = len(prompts[0])
            for a in self.arrays:
                a[1:, :, :n] = a[:1, :, :n]
            self.lengths = np.full(batch, n, np.int64)
            return np.repeat(logits[None], batch, axis=0)
        lengths = np.array([len(p) for p in prompts], np.int64)
        longest = int(lengths.max())
        ids = np.zeros((batch, longest), np.int64)
        for r, prompt in enumerate(prompts):
            ids[r, : len(prompt)] = prompt
        logits = self._run_chunk(ids, 0, self.values, lengths)
        self.prefilled += int(lengths.sum())
        self.lengths = lengths
        return logits[np.arange(batch), lengths - 1]

    def forget(self) -> None:
        """Drop the kept prompts, so the next prefill starts from nothing (benchmarks of a
        first request, tests)."""
        self.kept = []

    def _prefill_row0(self, prompt: list[int], batch: int, keep: bool,
                      stop: Stop | None) -> np.ndarray | None:  # fmt: skip
        """Row 0's cache for `prompt`: copied from the kept prompt sharing the longest prefix
        up to the last chunk boundary inside it, then computed chunk by chunk; the logits after
        its last token."""
        import onnxruntime as ort

        n = len(prompt)
        shares = [_common_prefix(tokens, prompt) for tokens, _ in self.kept]
        best = int(np.argmax(shares)) if shares else -1
        start = min(shares[best], n - 1) if shares else 0
        start -= start % PREFILL_CHUNK
        if start:
            for a, saved in zip(self.arrays, self.kept[best][1]):
                a[0, :, :start] = saved[:, :start]
        values = self.values
        if batch > 1:
            values = [ort.OrtValue.ortvalue_from_numpy(a[:1]) for a in self.arrays]
        for s in range(start, n, PREFILL_CHUNK):
            if stop is not None and stop():
                return None  # nothing is kept: row 0 holds part of the prompt
            e = min(n, s + PREFILL_CHUNK)
            logits = self._run_chunk(np.array([prompt[s:e]], np.int64), s, values,
                                     np.array([e], np.int64))  # fmt: skip
            self.prefilled += e - s
        self.reused += start  # counted once the prompt is whole: a stopped one reused nothing
        if keep and shares and self.kept[best][0] == prompt:
            self.kept.append(self.kept.pop(best))  # kept already: now the newest
        elif keep:
            self._keep(prompt)
        return logits[0, -1]

    def _keep(self, prompt: list[int]) -> None:
        """Copy row 0's cache for `prompt` into a kept slot as long as the prompt (rounded up to
        a chunk), so a 2,048-token model keeps as many ~700-token prompts as a 1,024-token one.
        Once KEPT_PROMPTS are kept the oldest goes, and its buffers are reused when long enough,
        so steady use allocates nothing (fresh memory costs page faults: copying the 664-token
        bench prompt took 2-8 ms into new arrays, 0.5 ms into used ones); then the oldest go
        until all fit KEPT_BYTES, the newest always staying."""
        n = len(prompt)
        saved = None
        if len(self.kept) >= KEPT_PROMPTS:
            saved = self.kept.pop(0)[1]
        if saved is None or saved[0].shape[1] < n:
            kv_heads, context, head_dim = self.row_shape
            length = min(context, -(-n // PREFILL_CHUNK) * PREFILL_CHUNK)
            saved = [np.empty((kv_heads, length, head_dim), np.float32) for _ in self.arrays]
        for b, a in zip(saved, self.arrays):
            b[:, :n] = a[0, :, :n]
        self.kept.append((prompt, saved))
        while len(self.kept) > 1 and self.kept_bytes() > KEPT_BYTES:
            self.kept.pop(0)

    def kept_bytes(self) -> int:
        """Memory held by the kept prompt caches."""
        return sum(b.nbytes for _, saved in self.kept for b in saved)

    def _run_chunk(self, ids: np.ndarray, start: int, values: list,
                   ends: np.ndarray) -> np.ndarray:  # fmt: skip
        """Run ids as positions start.. of their rows (rows end at `ends`); all logits."""
        width = ids.shape[1]
        positions = np.broadcast_to(np.arange(start, start + width, dtype=np.int64), ids.shape)
        binding = self.prefill_session.io_binding()
        binding.bind_cpu_input("input_ids", ids)
        binding.bind_cpu_input("position_ids", np.ascontiguousarray(positions))
        binding.bind_cpu_input("seqlens_k", (ends - 1).astype(np.int32))
        binding.bind_cpu_input("total_sequence_length", np.array(start + width, np.int32))
        binding.bind_output("logits", "cpu")
        self._bind_cache(binding, values)
        self.run(self.prefill_session, binding)
        return binding.get_outputs()[0].numpy()

    def step(self, tokens: np.ndarray, live: np.ndarray) -> np.ndarray:
        if self.length >= self.context:
            raise EngineError(f"the model's context ({self.context} tokens) is full")
        ids, positions, seqlens, total, logits = self._step_buffers()
        ids[:, 0] = np.where(live, tokens, 0)
        positions[:, 0] = self.lengths
        seqlens[:] = self.lengths  # the new token's slot; finished rows overwrite a dead slot
        total[...] = self.length + 1
        self.run(self.session, self.step_binding)
        self.lengths = self.lengths + live
        return logits[:, 0, :].copy()

    def mark(self, row: int) -> int:
        return int(self.lengths[row])

    def rewind(self, row: int, mark: int) -> None:
        self.lengths[row] = mark

    def _allocate(self, batch: int) -> None:
        """Buffers for `batch` rows, kept between requests of the same batch size. Stale
        entries past a row's length are never read, so they need no clearing."""
        if self.values and len(self.lengths) == batch:
            return
        import onnxruntime as ort

        shape = (batch, *self.row_shape)
        self.lengths = np.zeros(batch, np.int64)
        self.step_binding = None
        if self.device == "cpu":
            self.arrays = [np.zeros(shape, np.float32) for _ in self.past_names]
            self.values = [ort.OrtValue.ortvalue_from_numpy(a) for a in self.arrays]
        else:
            self.arrays = []
            self.values = [
                ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, "cuda", 0)
                for _ in self.past_names
            ]

    def _bind_cache(self, binding: object, values: list) -> None:
        for past, present, value in zip(self.past_names, self.present_names, values):
            binding.bind_ortvalue_input(past, value)
            binding.bind_ortvalue_output(present, value)

    def _step_buffers(self) -> tuple[np.ndarray, ...]:
        """The step's input and output arrays, bound by address once per batch size."""
        if self.step_binding is None:
            batch = len(self.lengths)
            self._step = (
                np.zeros((batch, 1), np.int64),
                np.zeros((batch, 1), np.int64),
                np.zeros(batch, np.int32),
                np.zeros((), np.int32),
                np.zeros((batch, 1, self.embedding_rows), np.float32),
            )
            binding = self.session.io_binding()
            names = ("input_ids", "position_ids", "seqlens_k", "total_sequence_length")
            for name, array in zip(names, self._step):
                binding.bind_input(name, "cpu", 0, array.dtype, array.shape, array.ctypes.data)
            logits = self._step[4]
            binding.bind_output("logits", "cpu", 0, logits.dtype, logits.shape, logits.ctypes.data)
            self._bind_cache(binding, self.values)
            self.step_binding = binding
        return self._step


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens a and b share."""
    m = min(len(a), len(b))
    differ = np.flatnonzero(np.asarray(a[:m]) != np.asarray(b[:m]))
    return int(differ[0]) if len(differ) else m
