"""Under CI every skip is a failure, except the one a machine without a GPU must take.

A skip says "this was not checked". Locally that is fine (no liblo, no shared MIDI files, no
matplotlib); in CI, which installs everything the suite needs (`make test`), a skip means a
test stopped testing without anyone seeing it: a missing `../shared/midi`, an
`importorskip` of something the Makefile stopped installing, a backend that was not there.
CI is recognised by MIDIGEN_REQUIRE_PEERS (set by .ci/run). conftest.py imports these hooks.
"""

from __future__ import annotations

import os

import pytest

# Skips CI may take: reasons of tests that can only run on hardware CI does not have.
ALLOWED_IN_CI = ("no GPU on this machine",)


def strict() -> bool:
    return bool(os.environ.get("MIDIGEN_REQUIRE_PEERS"))


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2])
    return str(longrepr)


def _fail_stray_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (strict() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _reason(report)
    if any(allowed in reason for allowed in ALLOWED_IN_CI):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under CI (MIDIGEN_REQUIRE_PEERS is set): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    _fail_stray_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> object:
    """A module-level importorskip or skip skips the whole file at collection."""
    outcome = yield
    _fail_stray_skip(outcome.get_result())
