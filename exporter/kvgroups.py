"""GPT2 with grouped key/value heads: fewer heads in the cache than in the queries.

A decode step of the default model on one CPU core spends most of its time reading the key/value
cache (BENCHMARKS.md, session 8), and the cache is as wide as the model. Grouped-query attention
(Ainslie et al. 2023) lets each group of query heads share one key head and one value head; with
a single group (multi-query attention, Shazeer 2019) the cache is a quarter of a 4-head model's.
ONNX Runtime's GroupQueryAttention, which the fused graph already uses, takes the smaller cache
as it is (`kv_num_heads`), so only the weights change shape.

Hugging Face's GPT2 has no such option, so a grouped model is an ordinary GPT2LMHeadModel whose
`c_attn` projections are `GroupedQKV`: they compute the narrower keys and values and repeat each
across its group before the attention sees them. Everything downstream of the projection
(eager or SDPA attention, the cache, generation) runs unchanged on the repeated heads, which costs
torch some memory but keeps one model class for training, parity checks and rebuilding. The
config records the grouping as `midigen_kv_heads`, and the weights keep GPT2's names (`...attn.
c_attn.weight`, now `hidden x (hidden + 2 x kv_heads x head_dim)`) so the fused graph builder
reads them as it reads any GPT2's.

A trained 4-head model becomes a grouped one by `group`: each group's key (and value) projection
is the mean of its heads' projections, the uptraining start that Ainslie et al. found best, after
which a short run of training recovers what the averaging lost.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

CONFIG_KEY = "midigen_kv_heads"


class GroupedQKV(nn.Module):
    """GPT2's Conv1D for Q, K and V (x @ weight + bias, weight stored in x out), with
    `kv_heads` key and value heads each repeated over its group of query heads."""

    def __init__(self, hidden: int, heads: int, kv_heads: int):
        super().__init__()
        if heads % kv_heads:
            raise ValueError(f"{heads} query heads do not split into {kv_heads} key/value groups")
        self.hidden, self.head_dim = hidden, hidden // heads
        self.kv_heads, self.groups = kv_heads, heads // kv_heads
        width = hidden + 2 * kv_heads * self.head_dim
        self.weight = nn.Parameter(torch.empty(hidden, width).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight)
        return self._expand(out.reshape(*x.shape[:-1], -1))

    def full(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of the ungrouped Conv1D that computes the same: each key and value
        head's columns repeated over its group."""
        return self._expand(self.weight), self._expand(self.bias)

    def _expand(self, t: torch.Tensor) -> torch.Tensor:
        """Queries, keys, values along the last axis -> the same with each key and value head
        repeated over its group (what an ungrouped GPT2's c_attn gives)."""
        kv = self.kv_heads * self.head_dim
        q, k, v = t.split([self.hidden, kv, kv], dim=-1)
        k, v = (x.unflatten(-1, (self.kv_heads, self.head_dim))
                .repeat_interleave(self.groups, dim=-2).flatten(-2) for x in (k, v))  # fmt: skip
        return torch.cat([q, k, v], dim=-1)


def kv_heads(config: object) -> int:
    """The model's key/value heads: `midigen_kv_heads` when grouped, else its query heads."""
    return int(getattr(config, CONFIG_KEY, None) or config.n_head)


def grouped(config: object) -> bool:
    """Whether a Hugging Face config is a grouped GPT2's (which from_pretrained cannot load)."""
    return config.model_type == "gpt2" and kv_heads(config) != config.n_head


def make_grouped(model: nn.Module) -> nn.Module:
    """Give a freshly built GPT2LMHeadModel the projection shapes its config's grouping asks
    for, in place (weights to be loaded afterwards). A model without grouping is unchanged."""
    c = model.config
    kv = kv_heads(c)
    if kv == c.n_head:
        return model
    for block in model.transformer.h:
        block.attn.c_attn = GroupedQKV(c.n_embd, c.n_head, kv)
    return model


def group(model: nn.Module, kv: int) -> nn.Module:
    """Turn a trained GPT2LMHeadModel with one key/value head per query head into one with
    `kv` key/value heads, in place: each group's projections are the mean of its heads'."""
    c = model.config
    if grouped(c):
        raise ValueError(f"the model is already grouped ({kv_heads(c)} key/value heads)")
    if kv == c.n_head:
        return model
    hidden, d = c.n_embd, c.n_embd // c.n_head
    for block in model.transformer.h:
        old = block.attn.c_attn
        new = GroupedQKV(hidden, c.n_head, kv).to(old.weight.device, old.weight.dtype)
        with torch.no_grad():
            for dst, src in ((new.weight, old.weight), (new.bias, old.bias)):
                q, k, v = src.split(hidden, dim=-1)
                pooled = [t.unflatten(-1, (kv, c.n_head // kv, d)).mean(-2).flatten(-2)
                          for t in (k, v)]  # fmt: skip
                dst.copy_(torch.cat([q, *pooled], dim=-1))
        block.attn.c_attn = new
    setattr(c, CONFIG_KEY, kv)
    return model


def ungrouped_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights as a plain GPT2's with one key/value head per query head, computing
    the same function: for engines that have no grouped heads (midigpt's GPT-2 in the bench)."""
    state = dict(model.state_dict())
    for i, block in enumerate(model.transformer.h):
        if isinstance(block.attn.c_attn, GroupedQKV):
            weight, bias = block.attn.c_attn.full()
            state[f"transformer.h.{i}.attn.c_attn.weight"] = weight.detach()
            state[f"transformer.h.{i}.attn.c_attn.bias"] = bias.detach()
    return state


def load(folder: Path | str, **kwargs) -> nn.Module:
    """GPT2LMHeadModel.from_pretrained for a folder whose model may be grouped."""
    from safetensors.torch import load_file
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config.from_pretrained(folder)
    if not grouped(config):
        return GPT2LMHeadModel.from_pretrained(folder, **kwargs)
    if "attn_implementation" in kwargs:
        config._attn_implementation = kwargs["attn_implementation"]
    model = make_grouped(GPT2LMHeadModel(config))
    state = load_file(str(Path(folder) / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the input embedding
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not fit the grouped model "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")  # fmt: skip
    model.tie_weights()
    return model.eval()
