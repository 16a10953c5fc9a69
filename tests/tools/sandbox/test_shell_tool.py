"""The bash tool: what the model sees, and the structured data front ends read."""

from __future__ import annotations

from pathlib import Path

from tools.base import SideEffect, ToolContext
from tools.sandbox.policy import SandboxMode, SandboxPolicy
from tools.shell import Bash


def _ctx(repo: Path, **changes: object) -> ToolContext:
    return ToolContext(repo=repo, sandbox=SandboxPolicy(timeout_s=20).with_(**changes))


def test_output_and_exit_code_line(repo: Path) -> None:
    result = Bash().invoke({"command": "echo hello; exit 3"}, _ctx(repo))
    assert not result.ok
    assert result.text.startswith("hello\n")
    assert result.text.endswith("[exit code: 3]")
    assert result.data["exit_code"] == 3
    assert Bash.side_effect is SideEffect.EXECUTE


def test_runs_at_the_repository_root(repo: Path) -> None:
    result = Bash().invoke({"command": "pwd"}, _ctx(repo))
    assert result.ok
    assert result.text.splitlines()[0] == str(repo)


def test_timeout_argument_can_only_shorten(repo: Path) -> None:
    result = Bash().invoke({"command": "sleep 10", "timeout": 0.5}, _ctx(repo))
    assert result.data["timed_out"]
    assert "[timed out after 0.5 s" in result.text
    assert "[exit code: none]" in result.text
    longer = Bash().invoke({"command": "sleep 10", "timeout": 1000}, _ctx(repo, timeout_s=0.5))
    assert longer.data["timed_out"] and longer.data["duration_s"] < 5


def test_truncation_note(repo: Path) -> None:
    result = Bash().invoke({"command": "seq 1 100000"}, _ctx(repo, output_limit=1000))
    assert result.data["truncated"]
    assert "[output truncated:" in result.text
    assert result.text.endswith("[exit code: 0]")


def test_sandbox_off_is_stated(repo: Path) -> None:
    result = Bash().invoke({"command": "true"}, _ctx(repo, mode=SandboxMode.FULL_ACCESS))
    assert "[sandbox off: full-access mode" in result.text
    assert result.data["sandboxed"] is False


def test_bad_arguments_are_tool_errors(repo: Path) -> None:
    assert not Bash().invoke({"command": ""}, _ctx(repo)).ok
    assert not Bash().invoke({"command": "true", "timeout": -1}, _ctx(repo)).ok
    assert not Bash().invoke({"cmd": "true"}, _ctx(repo)).ok
