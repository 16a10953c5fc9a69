"""Prints how many engine tests ran and how long each took (setup included, so the shared
engine's start shows in the first one), as the engine issue asks of CI. tests/model/engine
records into the same table; the table prints when this directory is part of the run."""

from __future__ import annotations

import pytest

_durations: dict[str, float] = {}
_skipped: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "engine" not in report.keywords:
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
