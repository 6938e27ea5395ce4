"""What training/train.py minimises and reports: per-token weights (the user's choices are not
targets, the answer weighs --fill-weight times), the per-token NLL, and validation.
See train.py's docstring for why the loss is shaped this way.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from midigen.server.language.vocab import CONTROL_FAMILIES, Vocabulary
from training.batching import batches


class Weights:
    """Per-target loss weights (see the module docstring) computed from the token ids."""

    def __init__(self, vocab: Vocabulary, fill_weight: float):
        given = torch.zeros(len(vocab), dtype=torch.bool)
        for family in ("inst", *CONTROL_FAMILIES):
            given[vocab[family].start : vocab[family].stop] = True
        for name in ("<vel_on>", "<vel_off>", "<mt_on>", "<mt_off>", "<pad>"):
            given[vocab.special(name)] = True
        self.given = given
        self.track_end = vocab.special("<track_end>")
        self.fill_weight = fill_weight

    def __call__(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights, answer mask) for the targets ids[:, 1:]."""
        targets = ids[:, 1:]
        pos = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        last_end = torch.where(ids == self.track_end, pos, -1).max(dim=1, keepdim=True).values
        answer = (pos > last_end)[:, 1:] & ~self.given.to(ids.device)[targets]
        kept = ~self.given.to(ids.device)[targets]
        weights = kept.float() + answer.float() * (self.fill_weight - 1)
        return weights, answer


def token_nll(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """NLL of every target ids[:, 1:] (B, L-1), in float32."""
    logits = model(input_ids=ids).logits[:, :-1].float()
    return F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")


@torch.no_grad()
def evaluate(model: torch.nn.Module, valid: list[np.ndarray], weights: Weights, pad: int,
             device: str, batch_tokens: int) -> dict:  # fmt: skip
    """Mean NLL per answer token and per weighted-in token over the fixed validation set."""
    model.eval()
    fill = fill_n = total = total_n = 0.0
    rows = sorted(valid, key=len)
    for ids in batches(rows, batch_tokens, pad, seed=0, buffer=len(rows) or 1):
        ids = ids.to(device)
        nll = token_nll(model, ids)
        w, answer = weights(ids)
        kept = w > 0
        fill += float(nll[answer].sum())
        fill_n += float(answer.sum())
        total += float(nll[kept].sum())
        total_n += float(kept.sum())
    model.train()
    return {"valid_fill": fill / max(1, fill_n), "valid_all": total / max(1, total_n),
            "valid_fill_tokens": int(fill_n)}  # fmt: skip
