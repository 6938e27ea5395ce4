"""Turns training checkpoints into parity-checked ONNX model bundles for midigen-server."""
