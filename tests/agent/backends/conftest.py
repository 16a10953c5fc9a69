"""Prints how many engine tests ran and how long each took (engine start included in the
first one's setup), as the engine issue asks of CI."""

from __future__ import annotations

import pytest

_durations: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "engine" in report.keywords and not report.skipped:
        _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _durations:
        return
    terminalreporter.section("engine tests")
    for nodeid, seconds in _durations.items():
        terminalreporter.write_line(f"{seconds:8.1f} s  {nodeid}")
    terminalreporter.write_line(f"{len(_durations)} engine tests, "
                                f"{sum(_durations.values()):.1f} s in all")
