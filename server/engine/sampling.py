"""Turning a batch of logits into tokens: grammar mask, then temperature, top-k and top-p.

The grammar mask comes first so that temperature and the top-k/top-p cut-offs only ever share
probability among legal tokens; a sample can therefore never break the token language. Every
variation (batch row) draws from its own generator, spawned from one seed, so a request is
reproducible and variation i does not depend on how many variations were asked for.

Before any of that, decoding.py's priors (`rhythm`, `harmony`) move probability between the legal
onset positions and pitches toward what the bars around the hole use; they never touch what is
legal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamplingOptions:
    """How tokens are drawn. temperature 0 means greedy (argmax over the legal tokens)."""

    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    top_p: float = 0.95  # nucleus: the far tail of 128 pitches is never drawn; 1.0: no cut
    rhythm: float = 6.0  # nats an onset position loses when the track's context bars never use it
    harmony: float = 1.0  # nats a pitch loses when its class is the rarest around the hole
    seed: int | None = None  # None: a fresh random seed (reported back so it can be reused)
    retries: int = 3  # resamples of a bar that comes out unchanged, or empty against density
    retry_temperature: float = 0.1  # added to the temperature on every retry of a bar
    max_bar_tokens: int = 512  # after this many tokens a bar is closed as soon as it can be

    def validate(self) -> SamplingOptions:
        """Raise ValueError naming the option that is out of range."""
        if not 0.0 <= self.temperature <= 10.0:
            raise ValueError(f"temperature must be 0..10, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0.0 <= self.rhythm <= 10.0:
            raise ValueError(f"rhythm must be 0..10, got {self.rhythm}")
        if not 0.0 <= self.harmony <= 10.0:
            raise ValueError(f"harmony must be 0..10, got {self.harmony}")
        if self.retries < 0 or self.retry_temperature < 0:
            raise ValueError("retries and retry_temperature must be >= 0")
        if self.max_bar_tokens < 8:
            raise ValueError(f"max_bar_tokens must be >= 8, got {self.max_bar_tokens}")
        return self


def generators(seed: int, count: int) -> list[np.random.Generator]:
    """One independent generator per variation; child i is the same whatever `count` is."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def sample_row(
    logits: np.ndarray,
    legal: np.ndarray,
    temperature: float,
    top_k: int,
    top_p: float,
    rng: np.random.Generator,
) -> int:
    """One token from one row of logits, drawn only among `legal` (a bool mask)."""
    ids = np.flatnonzero(legal)
    if len(ids) == 0:
        raise ValueError("no legal token to sample")
    if len(ids) == 1:
        return int(ids[0])  # forced by the grammar: no need to look at the model
    x = logits[ids].astype(np.float64)
    if temperature <= 0.0:
        return int(ids[int(np.argmax(x))])
    x /= temperature
    if 0 < top_k < len(ids):
        keep = np.argpartition(-x, top_k - 1)[:top_k]
        ids, x = ids[keep], x[keep]
    x -= x.max()
    p = np.exp(x)
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cumulative = np.cumsum(p[order])
        # the smallest prefix whose mass reaches top_p (always at least the best token)
        n = int(np.searchsorted(cumulative, top_p)) + 1
        order = order[:n]
        ids, p = ids[order], p[order] / p[order].sum()
    # Generator.choice(len(p), p=p) draws exactly this (same index, same stream, so a seed
    # repeats its notes across versions) in a third of its time: 20 us saved per token
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return int(ids[int(cdf.searchsorted(rng.random(), side="right"))])


def sample(
    logits: np.ndarray,
    legal: Sequence[np.ndarray | None],
    temperatures: Sequence[float],
    options: SamplingOptions,
    rngs: Sequence[np.random.Generator],
) -> np.ndarray:
    """A token per batch row; rows whose mask is None (finished) get -1.

    Rows loop in Python: the batch is a handful of variations and the mask already shrinks each
    row to the few legal tokens, so vectorising over the full vocabulary would cost more."""
    out = np.full(len(legal), -1, dtype=np.int64)
    for row, mask in enumerate(legal):
        if mask is not None:
            out[row] = sample_row(
                logits[row, : len(mask)],  # padded embedding rows are never legal
                mask,
                temperatures[row],
                options.top_k,
                options.top_p,
                rngs[row],
            )
    return out
