"""Offline tools: the `midigen` CLI (tokens, infill, continue, loop), `midigen-bench` and
piano-roll plots. Imports `language` and `engine`, never `daemon`."""
