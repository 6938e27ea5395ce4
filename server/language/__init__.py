"""Music as tokens: the Piece data model, MIDI files, the quantized grid, the vocabulary, controls,
the grammar that masks illegal tokens, and the window planner. Knows no model: imports nothing
from `engine`, `daemon` or `tools`, so training and tests can use it without ONNX Runtime."""
