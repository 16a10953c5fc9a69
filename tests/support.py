"""Helpers shared by the agent and TUI tests: an isolated home, small git repositories,
and replay files of raw model output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.config import ENVIRONMENT


def isolate_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point config and state at `home` and drop the user's TESSERA_* overrides."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("TESSERA_HOME", str(home / "data"))
    for var in ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    return home


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def init_repo(root: Path, files: dict[str, str]) -> Path:
    """A git repository at `root` whose first commit holds `files`."""
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@e", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "start")
    return root


def call(name: str, **arguments: object) -> str:
    """The raw text of one tool call, as the model emits it."""
    return f"[TOOL_CALLS]{name}[ARGS]{json.dumps(arguments)}"


def write_replay(path: Path, turns: list[str]) -> Path:
    path.write_text("".join(json.dumps({"raw": raw}) + "\n" for raw in turns))
    return path
