"""Detect and load the checkpoint kinds users bring, as one Hugging Face causal LM.

Everything is turned into a transformers model (GPT2LMHeadModel for nanoGPT-style weights), so a
single wrapper, export and parity path serves all of them. Loading errors become CheckpointError
with a one-line message; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import kvgroups

SUPPORTED_HF_TYPES = ("gpt2", "llama", "mistral")
HF_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# nanoGPT stores these Linear weights as [out, in]; HF GPT2's Conv1D stores [in, out].
NANOGPT_LINEARS = (
    "attn.c_attn.weight",
    "attn.c_proj.weight",
    "mlp.c_fc.weight",
    "mlp.c_proj.weight",
)
HF_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")
EMBEDDING_KEYS = (("transformer.wte.weight", "gpt2"), ("model.embed_tokens.weight", "llama"))
NANOGPT_ARG_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size")


class CheckpointError(Exception):
    """A checkpoint that cannot be exported; the message is one line meant for the user."""


@dataclass
class ModelInfo:
    """What the bundle needs to know about the model, independent of where it came from."""

    architecture: str  # Hugging Face model_type: gpt2, llama, mistral
    source_kind: str  # hf-dir, nanogpt, lightning
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    hidden_size: int
    context_length: int
    embedding_rows: int
    window_bars: int | None  # as found in the checkpoint's config, if at all
    max_tracks: int | None
    sha256: str


@dataclass
class LoadedCheckpoint:
    model: nn.Module  # fp32, eval mode, eager attention
    info: ModelInfo


def load_checkpoint(
    path: str | Path, config_path: str | Path | None = None, trust_pickle: bool = False
) -> LoadedCheckpoint:
    """Load any supported checkpoint. config_path supplies a model config that a plain state
    dict or a Lightning checkpoint lacks (HF config.json, or nanoGPT model_args as JSON)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    override = _read_json(Path(config_path)) if config_path else None
    if path.is_dir():
        model, extras = _load_hf_dir(path)
        kind = "hf-dir"
    else:
        obj = _torch_load(path, trust_pickle)
        model, extras, kind = _from_torch_object(path, obj, override)
    model = model.float().eval()
    return LoadedCheckpoint(model, _describe(model, kind, extras, checkpoint_sha256(path)))


def check_vocab_size(embedding_rows: int, vocab_size: int) -> None:
    """The embedding may be padded up to the next multiple of 64 (nanoGPT's 50304 trick), since
    the extra rows are never produced by the tokenizer; any other mismatch means the checkpoint
    was trained on a different language."""
    padded = -(-vocab_size // 64) * 64
    if embedding_rows != vocab_size and embedding_rows != padded:
        raise CheckpointError(
            f"vocabulary size mismatch: the model has {embedding_rows} embedding rows but the "
            f"vocabulary has {vocab_size} tokens (allowed: {vocab_size}, or {padded} padded)"
        )


def checkpoint_sha256(path: Path) -> str:
    """Hash of the file, or of a model folder's config and weight files (names included)."""
    digest = hashlib.sha256()
    if path.is_file():
        files = [path]
    else:
        files = sorted(
            p for p in path.iterdir() if p.name == "config.json" or p.suffix in HF_WEIGHT_SUFFIXES
        )
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Hugging Face folders


def _load_hf_dir(path: Path) -> tuple[nn.Module, dict]:
    from transformers import AutoConfig, AutoModelForCausalLM

    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: folder has no config.json (not a Hugging Face model)")
    if not any((path / name).is_file() for name in HF_WEIGHT_FILES):
        raise CheckpointError(f"{path}: no model.safetensors or pytorch_model.bin in the folder")
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as e:
        raise CheckpointError(f"{path}/config.json: unreadable: {_first_line(e)}") from e
    _check_supported(config.model_type, path)
    if kvgroups.grouped(config):
        try:
            return kvgroups.load(path, attn_implementation="eager"), config.to_dict()
        except Exception as e:
            raise CheckpointError(f"{path}: cannot load weights: {_first_line(e)}") from e
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.float32, attn_implementation="eager", output_loading_info=True
        )
    except Exception as e:
        raise CheckpointError(f"{path}: cannot load weights (truncated?): {_first_line(e)}") from e
    if info.get("missing_keys"):
        raise CheckpointError(f"{path}: weights missing: {_some(info['missing_keys'])}")
    return model, config.to_dict()


def _check_supported(model_type: str, where: Path) -> None:
    if model_type not in SUPPORTED_HF_TYPES:
        raise CheckpointError(
            f"{where}: model type {model_type!r} is not supported "
            f"(supported: {', '.join(SUPPORTED_HF_TYPES)})"
        )


# ---------------------------------------------------------------------------------------------
# .pt / .ckpt files


def _torch_load(path: Path, trust_pickle: bool) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as e:
        message = _first_line(e)
        if "Weights only load failed" in str(e):
            raise CheckpointError(
                f"{path}: holds Python objects beyond tensors; pass --trust-pickle if you trust "
                "where it came from"
            ) from e
        raise CheckpointError(
            f"{path}: not a Hugging Face model folder, nanoGPT .pt or Lightning .ckpt "
            f"(truncated or corrupt? torch.load: {message})"
        ) from e


def _from_torch_object(path: Path, obj: object, override: dict | None) -> tuple:
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a checkpoint dict")
    if "model_args" in obj and "model" in obj:  # nanoGPT train.py
        args = dict(obj["model_args"])
        extras = {**(obj.get("config") or {}), **args}
        return _gpt2_from_nanogpt(path, obj["model"], override or args), extras, "nanogpt"
    if "state_dict" in obj:  # PyTorch Lightning
        hparams = dict(obj.get("hyper_parameters") or {})
        model = _from_state_dict(path, obj["state_dict"], override or _config_in(hparams))
        return model, {**hparams, **(_config_in(hparams) or {})}, "lightning"
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):  # bare state dict
        if override is None:
            raise CheckpointError(f"{path}: a bare state dict; give its model config with --config")
        return _from_state_dict(path, obj, override), dict(override), "state-dict"
    raise CheckpointError(
        f"{path}: unknown checkpoint layout (top-level keys: {_some(list(obj))}); expected "
        "nanoGPT 'model_args'+'model' or Lightning 'state_dict'"
    )


def _config_in(hparams: dict) -> dict | None:
    """The model config inside Lightning hyper-parameters, in the places trainers put it."""
    for key in ("model_args", "config", "model_config"):
        if isinstance(hparams.get(key), dict):
            return dict(hparams[key])
    if "n_head" in hparams or "model_type" in hparams:
        return hparams
    return None


def _from_state_dict(path: Path, state: dict, config: dict | None) -> nn.Module:
    """A state dict under some module prefix: nanoGPT, HF GPT2 or HF Llama-family layout."""
    state, layout = _strip_prefix(path, state)
    if config is None:
        raise CheckpointError(
            f"{path}: no model config in the checkpoint (hyper_parameters model_args/config); "
            "give one with --config"
        )
    if layout == "gpt2" and _is_linear_layout(state):
        return _gpt2_from_nanogpt(path, state, config)
    if "model_type" not in config:
        raise CheckpointError(f"{path}: the model config has no model_type (HF config expected)")
    from transformers import AutoConfig, AutoModelForCausalLM

    _check_supported(config["model_type"], path)
    hf_config = AutoConfig.for_model(**{**config, "attn_implementation": "eager"})
    model = AutoModelForCausalLM.from_config(hf_config)
    if hf_config.model_type == "gpt2":
        kvgroups.make_grouped(model)  # a grouped GPT2's narrower projections, if it is one
    _load_strict(path, model, state)
    return model


def _strip_prefix(path: Path, state: dict) -> tuple[dict, str]:
    """Find the module prefix (Lightning's `model.`, torch.compile's `_orig_mod.`, ...) from the
    token embedding's key, and drop keys outside that module (metrics, loss buffers)."""
    for key in state:
        for suffix, layout in EMBEDDING_KEYS:
            if key.endswith(suffix):
                prefix = key[: -len(suffix)]
                inner = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
                return inner, layout
    raise CheckpointError(f"{path}: no token embedding found among {_some(list(state))}")


def _is_linear_layout(state: dict) -> bool:
    """nanoGPT's c_attn is an nn.Linear [3C, C]; HF GPT2's is a Conv1D [C, 3C]."""
    weight = state.get("transformer.h.0.attn.c_attn.weight")
    return weight is not None and weight.shape[0] == 3 * weight.shape[1]


def _gpt2_from_nanogpt(path: Path, state: dict, args: dict) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}
    state, _ = _strip_prefix(path, state)
    args = _complete_nanogpt_args(path, state, args)
    wte = state["transformer.wte.weight"]
    tied = "lm_head.weight" not in state or torch.equal(state["lm_head.weight"], wte)
    config = GPT2Config(
        vocab_size=args["vocab_size"],
        n_positions=args["block_size"],
        n_embd=args["n_embd"],
        n_layer=args["n_layer"],
        n_head=args["n_head"],
        activation_function="gelu",  # nanoGPT uses exact nn.GELU(); HF's default is tanh gelu_new
        layer_norm_epsilon=1e-5,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=tied,
        attn_implementation="eager",
    )
    model = GPT2LMHeadModel(config)
    mapped = {}
    for key, value in state.items():
        if key.endswith(".attn.bias") and value.dim() == 4:
            continue  # nanoGPT's causal-mask buffer, not a weight
        if key.endswith(NANOGPT_LINEARS):
            value = value.t().contiguous()
        mapped[key] = value
    if tied:
        mapped.pop("lm_head.weight", None)
    for key, value in model.state_dict().items():  # bias=False: zero biases are the same model
        if key.endswith(".bias") and key not in mapped and not args.get("bias", True):
            mapped[key] = torch.zeros_like(value)
    _load_strict(path, model, mapped)
    return model


def _complete_nanogpt_args(path: Path, state: dict, args: dict) -> dict:
    """Fill what the weights already say; only n_head cannot be read off the shapes."""
    args = {k: args[k] for k in NANOGPT_ARG_KEYS if args.get(k) is not None}
    if "n_head" not in args:
        raise CheckpointError(f"{path}: the model config does not give n_head")
    wte, wpe = state["transformer.wte.weight"], state.get("transformer.wpe.weight")
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"transformer\.h\.(\d+)\.", k))}
    inferred = {
        "vocab_size": wte.shape[0],
        "n_embd": wte.shape[1],
        "n_layer": len(blocks),
        "block_size": wpe.shape[0] if wpe is not None else None,
        "bias": "transformer.ln_f.bias" in state,
    }
    for key, value in inferred.items():
        if key in args and key != "bias" and args[key] != value:
            raise CheckpointError(
                f"{path}: model_args {key}={args[key]} but the weights say {value}"
            )
        args.setdefault(key, value)
    if args["n_embd"] % args["n_head"]:
        raise CheckpointError(
            f"{path}: n_embd {args['n_embd']} not divisible by n_head {args['n_head']}"
        )
    return args


def _load_strict(path: Path, model: nn.Module, state: dict) -> None:
    """Refuse missing or unexpected weights: a silently random layer would pass no test."""
    expected = set(model.state_dict())
    if getattr(model.config, "tie_word_embeddings", False):
        state = {k: v for k, v in state.items() if k != "lm_head.weight"}
        expected.discard("lm_head.weight")
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the {model.config.model_type} model "
            f"(missing: {_some(sorted(missing))}; unexpected: {_some(sorted(unexpected))})"
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        sizes = [line.strip() for line in str(e).splitlines() if "size mismatch" in line]
        raise CheckpointError(f"{path}: {sizes[0] if sizes else _first_line(e)}") from e
    if getattr(model.config, "tie_word_embeddings", False):
        model.tie_weights()


# ---------------------------------------------------------------------------------------------
# description


def _describe(model: nn.Module, kind: str, extras: dict, sha256: str) -> ModelInfo:
    c = model.config
    if c.model_type == "gpt2":
        heads, kv_heads, hidden, context = c.n_head, c.n_head, c.n_embd, c.n_positions
    else:
        heads, hidden = c.num_attention_heads, c.hidden_size
        kv_heads = getattr(c, "num_key_value_heads", None) or heads
        context = c.max_position_embeddings
    head_dim = getattr(c, "head_dim", None) or hidden // heads
    config = c.to_dict()

    def extra(name: str) -> int | None:
        value = extras.get(name, config.get(name))
        return int(value) if value is not None else None

    return ModelInfo(
        architecture=c.model_type,
        source_kind=kind,
        layers=c.num_hidden_layers,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        hidden_size=hidden,
        context_length=context,
        embedding_rows=model.get_input_embeddings().weight.shape[0],
        window_bars=extra("midigen_window_bars"),
        max_tracks=extra("midigen_max_tracks"),
        sha256=sha256,
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read config JSON: {_first_line(e)}") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _some(names: list, n: int = 3) -> str:
    shown = ", ".join(str(x) for x in names[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "") if names else "none"
