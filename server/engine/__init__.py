"""Tokens in, tokens out over ONNX Runtime: the model session and its KV cache, sampling, step
prompts, the batched decoding loop and generation requests. Imports `language` (and the
exporter's bundle reader), never `daemon` or `tools`."""
