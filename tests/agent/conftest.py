"""Shared pieces for scripted sessions: a temporary git repository, replay files, and a
headless run whose JSON event stream is read back."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent import events as ev
from agent.backend import ChatRequest, Delta
from agent.headless import RunOptions, run_headless
from agent.replay import ReplayBackend, ReplayTurn
from tests.support import init_repo, isolate_home, write_replay

CALC_BUGGY = "def add(a, b):\n    return a - b\n"
CHECK = (
    "from calc import add\n"
    "assert add(2, 3) == 5, f'add(2, 3) returned {add(2, 3)}'\n"
    "print('all checks passed')\n"
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate_home(tmp_path / "home", monkeypatch)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "project", {"calc.py": CALC_BUGGY, "check.py": CHECK})


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


class RecordingReplay(ReplayBackend):
    """The replay backend, keeping each request it was sent."""

    def __init__(self, turns: list[str]) -> None:
        super().__init__([ReplayTurn(t, i) for i, t in enumerate(turns, 1)])
        self.requests: list[ChatRequest] = []

    def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        self.requests.append(request)
        return super().stream(request)
