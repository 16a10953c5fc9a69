"""The subagent benchmark's two runs still replay to a passing fix (a trajectory that rots
would measure nothing), and the child's exploration stays out of the parent's context."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.subagent_context import ALONE, DELEGATED, run


@pytest.mark.slow
def test_both_runs_fix_the_crash_and_delegation_keeps_the_parent_smaller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    alone = run(ALONE, tmp_path / "alone")  # raises unless done with the tests passing
    delegated = run(DELEGATED, tmp_path / "delegated")
    assert alone["child"]["steps"] == 0 and delegated["child"]["steps"] == 7
    assert delegated["parent"]["steps"] == alone["parent"]["steps"] - 5
    assert delegated["parent"]["last_prompt"] < alone["parent"]["last_prompt"]
