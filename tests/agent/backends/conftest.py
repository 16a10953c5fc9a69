"""Prints how many engine tests ran and how long each took (setup included, so the shared
engine's start shows in the first one), as the engine issue asks of CI. tests/model/engine
records into the same table; the table prints when this directory is part of the run."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

_durations: dict[str, float] = {}
_skipped: set[str] = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if item.get_closest_marker("engine") is None:  # the marker, not a directory named engine
        return
    if report.skipped:
        _skipped.add(report.nodeid)
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = {nodeid: s for nodeid, s in _durations.items() if nodeid not in _skipped}
    if not ran:
        return
    terminalreporter.section("engine tests")
    for nodeid, seconds in ran.items():
        terminalreporter.write_line(f"{seconds:8.1f} s  {nodeid}")
    terminalreporter.write_line(f"{len(ran)} engine tests, {sum(ran.values()):.1f} s in all")
