"""`tessera sandbox`: one command through the same config, policy and sandbox as the tool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from tests.tools.sandbox.conftest import requires_bwrap

ROOT = Path(__file__).resolve().parents[3]


def test_argv_runs_and_its_exit_code_is_returned(repo: Path, capsys) -> None:
    code = main(["sandbox", "--repo", str(repo), "--", "sh", "-c", "echo hi; exit 3"])
    assert code == 3
    assert capsys.readouterr().out == "hi\n"


def test_single_argument_is_a_shell_command_line(repo: Path, capsys) -> None:
    code = main(["sandbox", "--repo", str(repo), "--", "echo abc | tr a-c x-z"])
    assert code == 0
    assert capsys.readouterr().out == "xyz\n"


def test_timeout_exits_124(repo: Path, capsys) -> None:
    code = main(["sandbox", "--repo", str(repo), "--timeout", "0.5", "--", "sleep", "10"])
    assert code == 124
    assert "timeout" in capsys.readouterr().err


@requires_bwrap()
def test_read_only_mode_flag(repo: Path, capsys) -> None:
    code = main(["sandbox", "--repo", str(repo), "--mode", "read-only", "--", "touch", "x"])
    assert code != 0
    assert not (repo / "x").exists()


def test_full_access_says_the_sandbox_is_off(repo: Path, capsys) -> None:
    code = main(["sandbox", "--repo", str(repo), "--mode", "full-access", "--", "true"])
    assert code == 0
    assert "sandbox OFF" in capsys.readouterr().err


@requires_bwrap()
def test_project_config_may_tighten_the_mode(repo: Path, capsys) -> None:
    (repo / ".tessera").mkdir()
    (repo / ".tessera" / "config.toml").write_text('[sandbox]\nmode = "read-only"\n')
    code = main(["sandbox", "--repo", str(repo), "--", "touch new-file"])
    assert code != 0
    assert not (repo / "new-file").exists()


def test_no_command_is_a_usage_error(repo: Path, capsys) -> None:
    assert main(["sandbox", "--repo", str(repo)]) == 2
    assert "no command" in capsys.readouterr().err


def test_bad_mode_is_rejected(repo: Path) -> None:
    with pytest.raises(SystemExit):
        main(["sandbox", "--repo", str(repo), "--mode", "wide-open", "--", "true"])


def test_module_entry_point_in_a_subprocess(repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent", "sandbox", "--repo", str(repo), "--", "echo", "from",
         "cli"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from cli\n"
