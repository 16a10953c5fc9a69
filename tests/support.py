"""Helpers shared by the tests: an isolated home, small git repositories, replay files of
raw model output, and the one way a test asks for an external program or optional module."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import NoReturn

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


# -- prerequisites -------------------------------------------------------------------------
# `scripts/test` installs every program and module the suite needs, so in CI a missing one is
# a broken setup and must fail; on a developer's machine it only skips the tests that need it.
# Tests say what they need with `require_program`/`require_module`, or with the markers
# `@pytest.mark.require_program("rg")` and `@pytest.mark.require_module("vllm")` (which
# only looks the module up: require_installed), handled in tests/conftest.py.

CI_TRUE = {"1", "true", "yes", "on"}


def in_ci() -> bool:
    """Whether `CI` is set to a true value (CI services set CI=true)."""
    return os.environ.get("CI", "").strip().lower() in CI_TRUE


def prerequisite_missing(what: str) -> NoReturn:
    """Skip the test here; fail it in CI, where its absence means the install is broken."""
    if in_ci():
        pytest.fail(f"{what}; CI is set and scripts/test installs it, so this fails", pytrace=False)
    pytest.skip(what, allow_module_level=True)


def require_program(*names: str) -> str:
    """The path of the first of `names` found on PATH (alternatives, e.g. chromium's)."""
    for name in names:
        if found := shutil.which(name):
            return found
    prerequisite_missing(f"needs {' or '.join(names)} on PATH")


def require_module(name: str) -> ModuleType:
    """The imported module `name` (an optional dependency of one extra)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        problem = str(exc)  # reported outside the handler: no chained traceback
    prerequisite_missing(f"needs the Python module {name} ({problem})")


def require_installed(module: str) -> None:
    """That `module` is installed, found without importing it (vllm takes seconds)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # a dotted name whose parent package is missing
        found = False
    if not found:
        prerequisite_missing(f"needs the Python module {module}")
