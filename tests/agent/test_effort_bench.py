"""The effort benchmark's trajectories still replay to the end under every policy (their
tool calls match the fixture: a trajectory that rots would measure nothing)."""

from __future__ import annotations

import pytest

from bench.effort_bench import MODES, TRAJECTORIES, run_one


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fix_failing_test", "add_feature", "investigate_crash"])
def test_trajectory_replays_to_done(name: str) -> None:
    for mode in MODES:
        result = run_one(TRAJECTORIES / f"{name}.jsonl", mode)
        assert result["ok"], (name, mode, result)
        assert result["failed_results"] >= 1  # each has a failing command or test on the way
        assert result["generated"] > 0 and result["prefill"] >= result["last_prompt"]
