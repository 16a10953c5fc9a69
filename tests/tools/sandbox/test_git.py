"""Battery, git: metadata is read-only inside, so nothing planted there runs on the host."""

from __future__ import annotations

from pathlib import Path

from tests.tools.sandbox.conftest import git, requires_bwrap, sha256
from tools.sandbox.policy import SandboxPolicy
from tools.sandbox.runner import run_command

pytestmark = requires_bwrap()


def test_hooks_and_config_writes_denied_and_nothing_runs_on_host_commit(
    run, repo: Path, outside: Path
) -> None:
    config_before = sha256(repo / ".git" / "config")
    hook_marker = outside / "hook-ran"
    monitor_marker = outside / "fsmonitor-ran"
    result = run(
        f"printf '#!/bin/sh\\ntouch {hook_marker}\\n' > .git/hooks/pre-commit; "
        "chmod +x .git/hooks/pre-commit; "
        f"git config core.fsmonitor 'touch {monitor_marker}'; "
        "git config core.hooksPath /tmp; "
        "echo '[core] bare = true' >> .git/config"
    )
    assert result.exit_code != 0
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert sha256(repo / ".git" / "config") == config_before

    (repo / "tracked.txt").write_text("changed on the host\n")
    git(repo, "commit", "-q", "-am", "host commit")
    git(repo, "status")
    assert not hook_marker.exists()
    assert not monitor_marker.exists()


def test_git_directory_cannot_be_removed_or_replaced(run, repo: Path) -> None:
    result = run("rm -rf .git; mv .git .git-old; ls -d .git")
    assert ".git" in result.output
    assert (repo / ".git" / "HEAD").is_file()
    assert not (repo / ".git-old").exists()


def test_read_only_git_commands_work_inside(run, repo: Path) -> None:
    (repo / "tracked.txt").write_text("edited\n")
    result = run("git status --porcelain && git log --oneline && git diff")
    assert result.exit_code == 0, result.output
    assert " M tracked.txt" in result.output
    assert "first commit" in result.output
    assert "+edited" in result.output


def test_worktree_gitdir_and_common_dir_are_read_only(repo: Path, scratch: Path,
                                                      policy: SandboxPolicy) -> None:  # fmt: skip
    worktree = scratch / "wt"
    git(repo, "worktree", "add", "-q", str(worktree), "-b", "wt")
    dotgit_before = (worktree / ".git").read_text()
    gitdir = repo / ".git" / "worktrees" / "wt"
    head_before = sha256(gitdir / "HEAD")
    config_before = sha256(repo / ".git" / "config")
    result = run_command(
        "git status --porcelain && echo STATUS-OK; "
        "echo 'gitdir: /tmp/evil' > .git; "
        'echo junk >> "$(git rev-parse --git-dir)/HEAD"; '
        "git config core.fsmonitor 'touch /tmp/x'",
        repo=worktree,
        policy=policy,
    )
    assert "STATUS-OK" in result.output
    assert result.exit_code != 0
    assert (worktree / ".git").read_text() == dotgit_before
    assert sha256(gitdir / "HEAD") == head_before
    assert sha256(repo / ".git" / "config") == config_before


def test_submodule_git_file_cannot_be_redirected(repo: Path, scratch: Path, run) -> None:
    origin = scratch / "sub-origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    (origin / "lib.txt").write_text("lib\n")
    git(origin, "add", "lib.txt")
    git(origin, "commit", "-q", "-m", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(origin), "sub")
    dotgit = repo / "sub" / ".git"
    before = dotgit.read_text()
    result = run(
        "echo 'gitdir: /var/tmp/evil' > sub/.git; rm -f sub/.git; "
        "cd sub && git status --porcelain && echo SUB-STATUS-OK"
    )
    assert dotgit.read_text() == before
    assert "SUB-STATUS-OK" in result.output


def test_tessera_project_settings_are_read_only(repo: Path, run) -> None:
    settings = repo / ".tessera" / "config.toml"
    settings.parent.mkdir()
    settings.write_text('[sandbox]\nmode = "read-only"\n')
    result = run(
        "printf '[sandbox]\\nmode = \"full-access\"\\n' > .tessera/config.toml; "
        "touch .tessera/new; echo still-writable > elsewhere.txt"
    )
    assert result.exit_code == 0  # the last command succeeded: the rest of the repo is writable
    assert settings.read_text() == '[sandbox]\nmode = "read-only"\n'
    assert not (repo / ".tessera" / "new").exists()
    assert (repo / "elsewhere.txt").exists()
