"""Batches for training/train.py: examples grouped by length into batches of about a token
budget, padded on the right, each row starting at position 0 as the server's prompts do (no
packing of several examples into one row, so positions mean what they mean at serving time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch


def batches(stream: Iterable[np.ndarray], batch_tokens: int, pad: int, seed: int,
            buffer: int = 512) -> Iterator[torch.Tensor]:  # fmt: skip
    """Right-padded (B, L) batches of about `batch_tokens` tokens (padding included).

    Examples are read `buffer` at a time and sorted by length, so a batch holds examples of
    similar length and padding stays small; the batches of a buffer go out in random order.
    """
    rng = np.random.default_rng(seed)
    it = iter(stream)
    while True:
        chunk = [x for _, x in zip(range(buffer), it)]
        if not chunk:
            return
        chunk.sort(key=len)
        groups, group, longest = [], [], 0
        for x in chunk:
            longest_if = max(longest, len(x))
            if group and longest_if * (len(group) + 1) > batch_tokens:
                groups.append(group)
                group, longest_if = [], len(x)
            group.append(x)
            longest = longest_if
        groups.append(group)
        for i in rng.permutation(len(groups)):
            yield pad_batch(groups[i], pad)


def pad_batch(rows: list[np.ndarray], pad: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.from_numpy(r.astype(np.int64))
    return out
