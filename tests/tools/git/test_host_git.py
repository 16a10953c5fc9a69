"""The one entry for host git (GitPython's `Git` with the safety settings): every path
that runs git on the host (checkpoints, the file lister behind list_files and grep, the
repo map) leaves a repository's hooks and `core.fsmonitor` unrun."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.git.helpers import git, write
from tools.base import ToolContext
from tools.codeintel.discover import list_files as map_files
from tools.git.repo import GitError, HostGit
from tools.listing import list_files
from tools.search import Grep, ListFiles

HOOKS = ("pre-commit", "post-commit", "post-checkout", "post-index-change")


@pytest.fixture
def booby_trapped(repo_dir: Path) -> tuple[Path, Path]:
    """A repository whose hooks and fsmonitor would write to a marker file if run."""
    write(repo_dir, "f.txt", "one\n")
    git(repo_dir, "add", "f.txt")
    git(repo_dir, "commit", "-q", "-m", "one")
    write(repo_dir, "untracked.txt", "two\n")
    marker = repo_dir.parent / "ran"
    for hook in HOOKS:
        write(repo_dir, f".git/hooks/{hook}", f"#!/bin/sh\necho {hook} >> '{marker}'\n", 0o755)
    monitor = write(repo_dir.parent, "monitor.sh", f"#!/bin/sh\necho fsmonitor >> '{marker}'\n")
    monitor.chmod(0o755)
    git(repo_dir, "config", "core.fsmonitor", str(monitor))
    return repo_dir, marker


def test_listing_searching_and_mapping_run_no_repository_code(
    booby_trapped: tuple[Path, Path],
) -> None:
    repo, marker = booby_trapped
    ctx = ToolContext(repo=repo, result_limit=1_000_000)
    assert list_files(repo) == ["f.txt", "untracked.txt"]
    assert ListFiles("python").invoke({}, ctx).data["files"] == 2
    assert Grep("python").invoke({"pattern": "two"}, ctx).data["matches"] == 1
    assert map_files(repo) == ["f.txt", "untracked.txt"]
    HostGit(repo).run("status", "--porcelain")
    assert not marker.exists(), marker.read_text()

    # The trap is real: the same listing by plain git runs the fsmonitor.
    git(repo, "ls-files", "--cached", "--others", "--exclude-standard")
    assert "fsmonitor" in marker.read_text()


def test_inherited_git_variables_do_not_redirect_host_git(
    repo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when Tessera is started from a git hook: a parent git's repository and index.
    monkeypatch.setenv("GIT_DIR", "/nonexistent/.git")
    monkeypatch.setenv("GIT_INDEX_FILE", "/nonexistent/index")
    write(repo_dir, "a.txt", "a\n")
    git_here = HostGit(repo_dir)
    assert git_here.run("rev-parse", "--show-toplevel").stdout.decode().strip() == str(repo_dir)
    git_here.run("add", "a.txt")
    assert git_here.run("ls-files").stdout == b"a.txt\n"
    # A variable given for one command is kept.
    other_index = repo_dir.parent / "other-index"
    git_here.run("add", "a.txt", env={"GIT_INDEX_FILE": str(other_index)})
    assert other_index.exists()


def test_failures_carry_gits_message(repo_dir: Path) -> None:
    with pytest.raises(GitError, match="unknown revision"):
        HostGit(repo_dir).run("log", "no-such-branch")
    proc = HostGit(repo_dir).run("update-ref", "--stdin", input=b"bogus\n", check=False)
    assert proc.returncode != 0 and b"unknown command" in proc.stderr
