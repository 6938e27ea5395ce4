"""The fused decoder graph: GPT2 weights written straight into ONNX Runtime's contrib operators.

Tracing the Hugging Face model gives a graph whose cache grows by a Concat every step and whose
attention is a dozen small nodes; ORT's optimizer fuses the layer norms and GELUs of such a graph
but not its attention (it has no pattern for this cache signature). For a small model decoding one
token at a time those copies and node launches are most of the step. So `--optimize` builds the
graph itself, as ONNX Runtime GenAI's model builder does:

- per layer: SkipLayerNormalization (residual add + bias + norm in one node), one MatMul + Add for
  Q, K and V, GroupQueryAttention, MatMul, SkipLayerNormalization, MatMul, FastGelu (bias folded
  in), MatMul; 58 nodes for six layers instead of several hundred;
- GroupQueryAttention reads and writes a cache buffer of the model's full context length that is
  bound as both `past_key_values.i.*` and `present.i.*`: each step writes only the new token's
  keys and values in place at row b's position `seqlens_k[b]`, and nothing is copied.

A GPT2 with grouped key/value heads (kvgroups.py) needs nothing else: its `c_attn` weights are
already packed as GroupQueryAttention reads them (queries, then `kv_heads` keys and values).

Rows of a batch may have different lengths (`seqlens_k` is per row), which is also how the engine
forgets a rejected bar: it moves the row's length back. The graph is checked against torch by
parity.py like any other export. Only the GPT2 family (which nanoGPT and Lightning checkpoints are
loaded as) is built here; Llama/Mistral keep the traced graph with ORT's optimizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from . import kvgroups
from .checkpoints import ModelInfo
from .wrapper import INPUT_IDS, LOGITS, POSITION_IDS, past_names, present_names

SEQLENS = "seqlens_k"
TOTAL_LENGTH = "total_sequence_length"
MAX_AXIS = "max_sequence_length"  # the buffers' length: the model's context
# gelu_new and its aliases are the tanh approximation FastGelu computes; plain gelu is erf-exact.
GELUS = {"gelu_new": "FastGelu", "gelu_pytorch_tanh": "FastGelu", "gelu_fast": "FastGelu",
         "gelu": "BiasGelu"}  # fmt: skip


def input_names(n_layers: int) -> list[str]:
    return [INPUT_IDS, POSITION_IDS, SEQLENS, TOTAL_LENGTH, *past_names(n_layers)]


def output_names(n_layers: int) -> list[str]:
    return [LOGITS, *present_names(n_layers)]


def kv_heads(model: nn.Module, info: ModelInfo) -> int:
    """The key/value heads of the fused graph's cache: a grouped GPT2's (kvgroups.py) own
    number, though its torch model and traced graph cache each head repeated over its group."""
    return kvgroups.kv_heads(model.config) if info.architecture == "gpt2" else info.kv_heads


def unsupported(model: nn.Module, info: ModelInfo) -> str | None:
    """Why this model cannot get the fused graph, or None when it can."""
    if info.architecture != "gpt2":
        return f"{info.architecture} models keep the traced graph"
    c = model.config
    if c.activation_function not in GELUS:
        return f"activation {c.activation_function!r} has no fused kernel"
    if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx or c.reorder_and_upcast_attn:
        return "non-default GPT2 attention scaling"
    return None


def build(model: nn.Module, info: ModelInfo, path: Path, opset: int = 17) -> None:
    """Write the fused graph of a Hugging Face GPT2LMHeadModel to path."""
    c = model.config
    weights = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    g = _Graph(weights)
    eps, heads, gelu = float(c.layer_norm_epsilon), info.heads, GELUS[c.activation_function]
    cache_shape = ["batch_size", info.kv_heads, MAX_AXIS, info.head_dim]
    tokens = ["batch_size", "sequence_length"]
    g.inputs = [
        helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, tokens),
        helper.make_tensor_value_info(POSITION_IDS, TensorProto.INT64, tokens),
        helper.make_tensor_value_info(SEQLENS, TensorProto.INT32, ["batch_size"]),
        helper.make_tensor_value_info(TOTAL_LENGTH, TensorProto.INT32, []),
    ]
    g.outputs = [
        helper.make_tensor_value_info(
            LOGITS, TensorProto.FLOAT, ["batch_size", "sequence_length", info.embedding_rows]
        )
    ]
    tok = g.node("Gather", [g.weight("transformer.wte.weight"), INPUT_IDS])
    pos = g.node("Gather", [g.weight("transformer.wpe.weight"), POSITION_IDS])
    # Layer i's first norm adds the previous layer's MLP output (and its bias) to the residual
    # stream; the fourth output is that sum, the residual for the rest of the layer.
    branch, residual, bias = tok, pos, None
    pasts, presents = past_names(info.layers), present_names(info.layers)
    for i in range(info.layers):
        p = f"transformer.h.{i}."
        norm_in = [branch, residual, g.weight(p + "ln_1.weight"), g.weight(p + "ln_1.bias")]
        h, residual = g.skip_norm(norm_in + ([bias] if bias else []), eps)
        qkv = g.node("MatMul", [h, g.weight(p + "attn.c_attn.weight")])
        qkv = g.node("Add", [qkv, g.weight(p + "attn.c_attn.bias")])
        for name in pasts[2 * i : 2 * i + 2]:
            g.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, cache_shape))
        for name in presents[2 * i : 2 * i + 2]:
            g.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, cache_shape))
        attn = g.node(
            "GroupQueryAttention",
            [qkv, "", "", pasts[2 * i], pasts[2 * i + 1], SEQLENS, TOTAL_LENGTH],
            extra_outputs=presents[2 * i : 2 * i + 2],
            num_heads=heads,
            kv_num_heads=info.kv_heads,
        )
        attn = g.node("MatMul", [attn, g.weight(p + "attn.c_proj.weight")])
        norm_in = [attn, residual, g.weight(p + "ln_2.weight"), g.weight(p + "ln_2.bias")]
        h, residual = g.skip_norm(norm_in + [g.weight(p + "attn.c_proj.bias")], eps)
        h = g.node("MatMul", [h, g.weight(p + "mlp.c_fc.weight")])
        h = g.node(gelu, [h, g.weight(p + "mlp.c_fc.bias")])
        branch = g.node("MatMul", [h, g.weight(p + "mlp.c_proj.weight")])
        bias = g.weight(p + "mlp.c_proj.bias")
    norm_in = [branch, residual, g.weight("transformer.ln_f.weight")]
    h, _ = g.skip_norm(norm_in + [g.weight("transformer.ln_f.bias"), bias], eps)
    out_embedding = model.get_output_embeddings().weight.detach().float().numpy()
    head = g.constant("lm_head", np.ascontiguousarray(out_embedding.T))
    g.nodes.append(helper.make_node("MatMul", [h, head], [LOGITS], name="lm_head"))
    graph = helper.make_graph(g.nodes, "midigen_fused_gpt2", g.inputs, g.outputs, g.initializers)
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)]
    onnx_model = helper.make_model(graph, opset_imports=opsets, producer_name="midigen-export")
    onnx_model.ir_version = 8  # what every onnxruntime >= 1.14 reads
    onnx.checker.check_model(onnx_model)
    from .onnx_export import save

    save(onnx_model, path)


def operator_counts(path: Path) -> dict[str, int]:
    """How many of each operator the built graph has, for the bundle's optimization record."""
    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


class _Graph:
    """Nodes and initializers being collected; each weight is stored once, under its own name."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._stored: set[str] = set()

    def weight(self, key: str) -> str:
        return self.constant(key, self.weights[key])

    def constant(self, name: str, value: np.ndarray) -> str:
        if name not in self._stored:
            self.initializers.append(numpy_helper.from_array(value.astype(np.float32), name))
            self._stored.add(name)
        return name

    def node(self, op: str, inputs: list[str], extra_outputs: list[str] = (), **attrs) -> str:
        """Add a node; returns the name of its first output (contrib ops get their domain)."""
        name = f"{op}_{len(self.nodes)}"
        out = f"{name}_out"
        domain = None if op in ("Gather", "MatMul", "Add") else "com.microsoft"
        self.nodes.append(
            helper.make_node(op, inputs, [out, *extra_outputs], name=name, domain=domain, **attrs)
        )
        return out

    def skip_norm(self, inputs: list[str], eps: float) -> tuple[str, str]:
        """SkipLayerNormalization(x, skip, gamma, beta[, bias]): (normed, x + skip + bias)."""
        name = f"SkipLayerNormalization_{len(self.nodes)}"
        normed, total = f"{name}_out", f"{name}_sum"
        self.nodes.append(
            helper.make_node(
                "SkipLayerNormalization",
                inputs,
                [normed, "", "", total],
                name=name,
                domain="com.microsoft",
                epsilon=eps,
            )
        )
        return normed, total
