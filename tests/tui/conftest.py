"""Shared pieces for the TUI tests: an isolated home, a small git repository, replay
files, and the app under Pilot with a fixed sandbox answer (so screens are stable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import init_repo, isolate_home

CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate_home(tmp_path / "home", monkeypatch)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "project", {"calc.py": CALC})


def isolated_sandbox() -> tuple[bool, str]:
    return True, "sandbox: bubblewrap (test)"


def sandbox_off() -> tuple[bool, str]:
    return False, "SANDBOX OFF: commands are not isolated (test)"
