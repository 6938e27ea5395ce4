"""Fixtures shared by the engine, generation, CLI and daemon tests."""

import pytest
from strictskips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401

import tiny_bundle
from midigen.server.engine.session import Engine


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """A tiny random GPT-2 bundle made by the project's exporter with --optimize, as shipped
    bundles are (fused graph, shared cache); built once per session."""
    return tiny_bundle.build(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def traced_bundle(tmp_path_factory):
    """The same weights exported without --optimize: the traced graph and its growing cache."""
    return tiny_bundle.build(tmp_path_factory.getbasetemp(), optimize=False)


@pytest.fixture(scope="module")
def engine(bundle):
    return Engine(bundle, device="cpu", threads=1)


@pytest.fixture(scope="module", params=["shared", "growing"])
def both_engines(request, bundle, traced_bundle):
    """For tests that must hold on both kinds of KV cache."""
    path = bundle if request.param == "shared" else traced_bundle
    return Engine(path, device="cpu", threads=1)
