"""Shared pieces for the TUI tests: an isolated home, a small git repository, replay
files, and the app under Pilot with a fixed sandbox answer (so screens are stable)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.config import ENVIRONMENT

CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


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
    (root / "calc.py").write_text(CALC)
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@e", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "start")
    return root


def call(name: str, **arguments: object) -> str:
    return f"[TOOL_CALLS]{name}[ARGS]{json.dumps(arguments)}"


def write_replay(path: Path, turns: list[str]) -> Path:
    path.write_text("".join(json.dumps({"raw": raw}) + "\n" for raw in turns))
    return path


def isolated_sandbox() -> tuple[bool, str]:
    return True, "sandbox: bubblewrap (test)"


def sandbox_off() -> tuple[bool, str]:
    return False, "SANDBOX OFF: commands are not isolated (test)"
