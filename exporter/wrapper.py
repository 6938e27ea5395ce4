"""The plain-tensor KV-cache wrapper that is traced into model.onnx.

transformers 5 passes the KV cache around as Cache objects, which ONNX cannot carry. The wrapper
takes the past as a flat list of tensors, builds a DynamicCache from it for the Hugging Face
model, and flattens the grown cache back into tensors, so the graph boundary has only the
optimum-style names below. A past of length 0 is an ordinary tensor with a zero-sized axis, which
is why a single graph serves both the first step and every later one (no merged If-node decoder).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.cache_utils import DynamicCache

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
POSITION_IDS = "position_ids"
LOGITS = "logits"


def past_names(n_layers: int) -> list[str]:
    """Input names of the cache, key before value for every layer, in the graph's order."""
    return [f"past_key_values.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]


def present_names(n_layers: int) -> list[str]:
    """Output names of the grown cache, in the same order as past_names."""
    return [f"present.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]


def input_names(n_layers: int) -> list[str]:
    return [INPUT_IDS, ATTENTION_MASK, POSITION_IDS, *past_names(n_layers)]


def output_names(n_layers: int) -> list[str]:
    return [LOGITS, *present_names(n_layers)]


def dynamic_axes(n_layers: int) -> dict[str, dict[int, str]]:
    """Symbolic axis names; they end up in the ONNX graph and in midigen.json."""
    axes = {
        INPUT_IDS: {0: "batch_size", 1: "sequence_length"},
        ATTENTION_MASK: {0: "batch_size", 1: "total_sequence_length"},
        POSITION_IDS: {0: "batch_size", 1: "sequence_length"},
        LOGITS: {0: "batch_size", 1: "sequence_length"},
    }
    for name in past_names(n_layers):
        axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in present_names(n_layers):
        axes[name] = {0: "batch_size", 2: "total_sequence_length"}
    return axes


class KVCacheWrapper(nn.Module):
    """Hugging Face causal LM -> (logits, present tensors) over plain tensors only."""

    def __init__(self, model: nn.Module, n_layers: int):
        super().__init__()
        self.model = model
        self.n_layers = n_layers

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        *past: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        cache = DynamicCache([(past[2 * i], past[2 * i + 1]) for i in range(self.n_layers)])
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        )
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def example_inputs(
    batch: int, seq: int, past: int, n_layers: int, kv_heads: int, head_dim: int
) -> tuple[torch.Tensor, ...]:
    """Inputs for tracing. Every dynamic axis gets a distinct size > 1, so the tracer cannot
    mistake one axis for another or specialise an axis to 1."""
    ids = torch.zeros(batch, seq, dtype=torch.int64)
    mask = torch.ones(batch, past + seq, dtype=torch.int64)
    pos = torch.arange(past, past + seq, dtype=torch.int64).expand(batch, seq).contiguous()
    cache = [torch.zeros(batch, kv_heads, past, head_dim) for _ in range(2 * n_layers)]
    return (ids, mask, pos, *cache)
