"""The prefill twin of a fused graph: the same model with its layer norms unfused.

ONNX Runtime's CPU SkipLayerNormalization kernel normalizes one row at a time in a plain loop:
over a 128-token prompt piece it took 2.8 ms for the default model's 13 norms, where Add +
LayerNormalization took 0.4 ms (BENCHMARKS.md). Decoding one token, the bundle with unfused norms
was 5-10 % slower (more nodes to launch), and ORT does not re-fuse this pattern at load (the sums
feed two nodes each). So a fused bundle carries two graphs over one set of weights: `model.onnx`
for steps and this twin (`prefill.onnx`) for prompts. Both read their initializers from the same
external data file, so the twin adds a few kilobytes to the bundle, not a second copy of the
weights; the CPU engine loads it as a second session.
"""

from __future__ import annotations

import copy
from pathlib import Path

import onnx
from onnx import helper

PREFILL_FILE = "prefill.onnx"


def twin(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """A copy of `model` whose SkipLayerNormalization nodes are Add (+ Add for the bias) +
    LayerNormalization with the same output names; None when it has none to unfuse. The
    initializers are shared with `model` as they are (external data references included)."""
    fused = [n for n in model.graph.node if n.op_type == "SkipLayerNormalization"]
    if not fused:
        return None
    out = copy.deepcopy(model)
    nodes = []
    for node in out.graph.node:
        if node.op_type != "SkipLayerNormalization":
            nodes.append(node)
            continue
        x, skip, gamma, beta = node.input[:4]
        bias = node.input[4] if len(node.input) > 4 and node.input[4] else None
        eps = next(a.f for a in node.attribute if a.name == "epsilon")
        outputs = list(node.output) + [""] * (4 - len(node.output))
        if outputs[1] or outputs[2]:
            raise ValueError(f"{node.name}: mean / inverse std outputs are not supported")
        total = outputs[3] or f"{node.name}_sum"
        if bias:
            nodes.append(helper.make_node("Add", [x, skip], [f"{node.name}_xs"],
                                          name=f"{node.name}_add"))  # fmt: skip
            nodes.append(helper.make_node("Add", [f"{node.name}_xs", bias], [total],
                                          name=f"{node.name}_add_bias"))  # fmt: skip
        else:
            nodes.append(helper.make_node("Add", [x, skip], [total], name=f"{node.name}_add"))
        nodes.append(helper.make_node("LayerNormalization", [total, gamma, beta], [outputs[0]],
                                      name=f"{node.name}_norm", axis=-1, epsilon=eps))  # fmt: skip
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.name = model.graph.name + "_prefill"
    return out


def write(folder: Path, model_file: str) -> str | None:
    """Write the twin of folder/model_file beside it, sharing its external data; returns the
    twin's file name, or None when the graph has no fused norm. The model must already keep its
    weights in an external data file (onnx_export.save with threshold 0)."""
    model = onnx.load(str(folder / model_file), load_external_data=False)
    if not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise ValueError(f"{model_file}: weights must be in external data to be shared")
    prefill = twin(model)
    if prefill is None:
        return None
    onnx.save_model(prefill, str(folder / PREFILL_FILE))
    onnx.checker.check_model(str(folder / PREFILL_FILE))
    return PREFILL_FILE
