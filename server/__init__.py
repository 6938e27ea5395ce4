"""midigen's runtime, in four rooms that import one way: language <- engine <- daemon, tools.

- `language`: music as tokens (pieces, MIDI files, the grid, vocabulary, controls, grammar,
  windows); knows no model.
- `engine`: tokens in, tokens out over ONNX Runtime (session, KV cache, sampling, prompts,
  decoding, generation requests).
- `daemon`: the OSC server `midigen-server` and live MIDI out.
- `tools`: the offline CLI `midigen`, `midigen-bench` and piano-roll plots.
"""

__version__ = "0.1.0"
