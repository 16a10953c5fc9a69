"""Shared pieces for scripted sessions: a temporary git repository, replay files, and a
headless run whose JSON event stream is read back."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
from pathlib import Path

import pytest

from agent import events as ev
from agent.config import ENVIRONMENT
from agent.runner import RunOptions, run_headless

CALC_BUGGY = "def add(a, b):\n    return a - b\n"
CHECK = (
    "from calc import add\n"
    "assert add(2, 3) == 5, f'add(2, 3) returned {add(2, 3)}'\n"
    "print('all checks passed')\n"
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("TESSERA_HOME", str(home / "data"))
    for var in ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    return home


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "calc.py").write_text(CALC_BUGGY)
    (root / "check.py").write_text(CHECK)
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@e", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "start")
    return root


def call(name: str, **arguments: object) -> str:
    return f"[TOOL_CALLS]{name}[ARGS]{json.dumps(arguments)}"


def write_replay(path: Path, turns: list[str]) -> Path:
    path.write_text("".join(json.dumps({"raw": raw}) + "\n" for raw in turns))
    return path


def run_session(
    repo: Path, turns: list[str] | None, task: str = "make the checks pass", **options: object
) -> tuple[ev.Finish, list[ev.Event]]:
    """Run headless with --json; returns the finish and every event printed."""
    if turns is not None:
        options.setdefault("backend", f"replay:{write_replay(repo.parent / 'turns.jsonl', turns)}")
    options.setdefault("repo_map_tokens", 0)  # the map has its own tests; keep sessions fast
    out = io.StringIO()
    finish = asyncio.run(
        run_headless(RunOptions(task=task, repo=repo, json=True, **options), out)  # type: ignore[arg-type]
    )
    printed = [ev.from_json(line) for line in out.getvalue().splitlines()]
    return finish, printed


def of_type(events: list[ev.Event], kind: type[ev.Event]) -> list:
    return [e for e in events if isinstance(e, kind)]
