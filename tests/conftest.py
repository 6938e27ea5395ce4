"""Fixtures shared by the engine, generation, CLI and daemon tests."""

import pytest

import tiny_bundle
from midigen.server.engine import Engine


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """A tiny random GPT-2 bundle made by the project's exporter, built once per session."""
    return tiny_bundle.build(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def engine(bundle):
    return Engine(bundle, device="cpu", threads=1)
