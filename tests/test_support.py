"""The prerequisite helpers: a missing program or module skips a test on a developer's
machine and fails it in CI, both called directly and through the markers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import in_ci, require_installed, require_module, require_program

MISSING = "tessera-no-such-program-7f3a"
REPO = Path(__file__).parents[1]


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("1", True), ("TRUE", True), ("yes", True),
    ("false", False), ("0", False), ("", False), (None, False),
])
def test_ci_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_a_missing_program_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        require_program(MISSING)


def test_a_missing_program_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{MISSING}.*scripts/test installs it"):
        require_program(MISSING)


def test_the_first_program_found_among_alternatives_is_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    found = require_program(MISSING, Path(sys.executable).name)
    assert Path(found).name == Path(sys.executable).name


def test_a_missing_module_skips_outside_ci_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no_such_module_7f3a"):
        require_module("no_such_module_7f3a")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no_such_module_7f3a"):
        require_module("no_such_module_7f3a")
    assert require_module("json").dumps([]) == "[]"


@pytest.mark.parametrize("module", ["no_such_module_7f3a", "no_such_module_7f3a.child"])
def test_an_uninstalled_module_is_found_missing_without_an_import(
    monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=module):
        require_installed(module)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=module):
        require_installed(module)
    require_installed("json")  # installed: no exception


MARKED = f"""
import pytest

@pytest.mark.require_program("{MISSING}")
def test_needs_a_program():
    pass

@pytest.mark.require_module("no_such_module_7f3a")
def test_needs_a_module():
    pass
"""


# A prerequisite is checked in setup, so in CI the test reports an error (red, as a failure).
@pytest.mark.parametrize(("ci", "outcome"), [("false", "2 skipped"), ("true", "2 errors")])
def test_the_markers_skip_or_fail_a_test(tmp_path: Path, ci: str, outcome: str) -> None:
    (tmp_path / "test_marked.py").write_text(MARKED)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "--rootdir", str(tmp_path),
         "-c", os.devnull, str(tmp_path / "test_marked.py")],
        cwd=REPO, env={**os.environ, "CI": ci}, capture_output=True, text=True, timeout=120,
    )
    assert outcome in run.stdout, run.stdout + run.stderr
    assert (run.returncode == 0) is (ci == "false")
