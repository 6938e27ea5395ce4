"""The torch baselines `midigen-bench` measures the ONNX Runtime engine against, on the same
weights: Hugging Face GPT-2 stepped with its KV cache, its `generate`, and midigpt 0.4's own
PyTorch GPT-2 (the model MIDI-GPT's inference engine runs), when midigpt is installed.
"""

from __future__ import annotations

from pathlib import Path

from .timing import DECODE_TOKENS, best_ms, timed_loop


def _hf_model(source: Path) -> object:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from midigen.exporter import kvgroups

    if kvgroups.grouped(AutoConfig.from_pretrained(source)):
        model = kvgroups.load(source)
    else:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).eval()
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = None
    return model


def torch_decode(source: Path, prompt: list[int]) -> dict[str, float]:
    """Eager PyTorch, one token per step reusing the KV cache (no compile, default attention)."""
    import torch

    model = _hf_model(source)
    ids = torch.tensor([prompt])

    def prefill() -> object:
        return model(input_ids=ids, use_cache=True).past_key_values

    def step(past: object, tok: int) -> object:
        return model(input_ids=torch.tensor([[tok]]), past_key_values=past).past_key_values

    with torch.inference_mode():
        prefill_ms, _ = best_ms(prefill)
        return {"prefill_ms": prefill_ms, **timed_loop(prefill, step)}


def midigpt_stepper(source: Path, prompt: list[int]) -> tuple | None:
    """midigpt 0.4's own PyTorch GPT-2 (the model its inference engine steps, with its KV cache
    grown in place), loaded with the same weights, as (prefill, step) for timing.timed_loop, to
    be called under torch.inference_mode(); None when midigpt is not installed (`pip install
    midigpt==0.4.2`). Only the model's steps are timed: midigpt's sampling loop around them
    (grammar, filters) would add to its side. midigpt's GPT-2 has no grouped key/value heads,
    so a grouped model (exporter/kvgroups.py) runs there as the same function with each
    key/value head repeated over its group: what serving it with midigpt would take."""
    try:
        from midigpt.inference.model.gpt2 import GPT2Config as MidiGPTConfig
        from midigpt.inference.model.gpt2 import GPT2LMHeadModel as MidiGPT
    except ImportError:
        return None
    import torch

    from midigen.exporter import kvgroups

    hf = _hf_model(source)
    c = hf.config
    config = MidiGPTConfig(vocab_size=c.vocab_size, n_positions=c.n_positions, n_embd=c.n_embd,
                           n_layer=c.n_layer, n_head=c.n_head)  # fmt: skip
    model = MidiGPT(config).eval()
    state = {
        k: v
        for k, v in kvgroups.ungrouped_state(hf).items()
        if not k.endswith((".attn.bias", ".attn.masked_bias"))
    }  # HF-only mask buffers
    model.load_state_dict(state)
    ids = torch.tensor([prompt])
    with torch.inference_mode():  # the same model, or the comparison means nothing
        gap = (model(ids)[0][0, -1] - hf(input_ids=ids).logits[0, -1]).abs().max().item()
    if gap > 1e-3:
        raise RuntimeError(f"midigpt's GPT-2 disagrees with the HF model by {gap:.2g}")

    def prefill() -> object:
        return model(ids)[1]

    def step(past: object, tok: int) -> object:
        return model(torch.tensor([[tok]]), past)[1]

    return prefill, step


def midigpt_decode(stepper: tuple | None) -> dict[str, float]:
    """Prefill and per-token decode time of midigpt_stepper's model; {} without midigpt."""
    if stepper is None:
        return {}
    import torch

    with torch.inference_mode():
        prefill_ms, _ = best_ms(stepper[0])
        return {"prefill_ms": prefill_ms, **timed_loop(*stepper)}


def hf_generate(source: Path, prompt: list[int]) -> dict[str, float]:
    """`generate` greedy with its own cache: (time for N+1 tokens - time for 1) / N."""
    import torch

    model = _hf_model(source)
    ids = torch.tensor([prompt])
    n = DECODE_TOKENS

    def run(new: int) -> None:
        model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False)

    with torch.inference_mode():
        one, one_cpu = best_ms(lambda: run(1))
        many, many_cpu = best_ms(lambda: run(n + 1))
    return {
        "decode_ms_per_token": (many - one) / n,
        "decode_cpu_ms_per_token": (many_cpu - one_cpu) / n,
    }
