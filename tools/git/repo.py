"""Opening a repository and running git on the host, safely.

Every git command Tessera runs on the host goes through `GitRepo.run`, which turns off
everything a repository (or a sandboxed agent that wrote into it) could use to make the
host run code: hooks, fsmonitor, gc/maintenance triggers. It also drops inherited
`GIT_*` variables (a parent git's GIT_DIR or GIT_INDEX_FILE would otherwise redirect us)
and pins messages to English so errors can be recognised.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Without this GitPython raises at import time on a machine that has no git; we want
# open_repo to say so clearly instead.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
import git as gitpython

# `-c` settings given to every host git command. The user's own config still applies;
# these win over it.
SAFE_CONFIG: tuple[str, ...] = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.splitIndex=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "core.quotePath=false",
    "advice.addEmbeddedRepo=false",
)

# Inherited variables that are kept: they choose which config files the user wants read.
_KEPT_GIT_ENV = {"GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM", "GIT_EXEC_PATH"}

# Checkpoint commits are private objects; they get a fixed identity so that a machine
# without user.name/user.email can still take them.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Tessera",
    "GIT_AUTHOR_EMAIL": "tessera@localhost",
    "GIT_COMMITTER_NAME": "Tessera",
    "GIT_COMMITTER_EMAIL": "tessera@localhost",
}


class NotAGitRepo(Exception):
    """The folder is not inside a git work tree; checkpoints need one."""

    def __init__(
        self,
        path: Path,
        reason: str = "is not inside a git repository",
        fix: str = "run `git init` there",
    ) -> None:
        self.path = path
        super().__init__(
            f"{path} {reason}. Checkpoints and undo need a git work tree: {fix}, "
            "or continue without checkpoints."
        )


class GitError(Exception):
    """A git command failed; the message carries the command and git's own words."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        self.args_run = list(args)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"git {' '.join(args)} failed ({returncode}): {stderr.strip()}")


def host_git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEPT_GIT_ENV}
    env.update(_IDENTITY)
    env["LC_ALL"] = "C"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_OPTIONAL_LOCKS"] = "0"  # read-only commands must not rewrite the user's index
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class GitRepo:
    """A git work tree: the main one or a linked worktree."""

    root: Path  # top of the work tree
    git_dir: Path  # this work tree's git dir (.git, or .git/worktrees/<name>)
    common_dir: Path  # the shared one (objects, refs)
    handle: gitpython.Repo

    def argv(self, *args: str, config: Sequence[str] = ()) -> list[str]:
        """The full git command line, with the safety settings."""
        cmd = ["git"]
        for setting in (*SAFE_CONFIG, *config):
            cmd += ["-c", setting]
        return [*cmd, "-C", str(self.root), *args]

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        check: bool = True,
        config: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `git` in the work tree with the safety settings; bytes in, bytes out."""
        proc = subprocess.run(
            self.argv(*args, config=config),
            input=input,
            capture_output=True,
            env=host_git_env(env),
            check=False,
        )
        if check and proc.returncode != 0:
            raise GitError(args, proc.returncode, proc.stderr.decode("utf-8", "replace"))
        return proc

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """A long-running git with pipes (e.g. `cat-file --batch`), same safety settings."""
        return subprocess.Popen(
            self.argv(*args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=host_git_env(),
        )

    def out(self, *args: str, **kwargs: object) -> str:
        """Run git and return stdout as text with the trailing newline removed."""
        proc = self.run(*args, **kwargs)  # type: ignore[arg-type]
        return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")

    def resolve(self, rev: str) -> str | None:
        """The object id `rev` names, or None (no commits yet, unknown ref)."""
        proc = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", rev, check=False)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode().strip()

    def head_sha(self) -> str | None:
        return self.resolve("HEAD^{commit}")

    def head_branch(self) -> str | None:
        """The branch HEAD points at (refs/heads/...), or None when detached."""
        proc = self.run("symbolic-ref", "--quiet", "HEAD", check=False)
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    @property
    def index_path(self) -> Path:
        return self.git_dir / "index"

    @property
    def worktree_id(self) -> str:
        """'' for the main work tree, the worktree's name for a linked one.

        Checkpoint refs live in the shared ref store, so this keeps each work tree's
        checkpoints apart; it survives moving the repository folder.
        """
        if self.git_dir.resolve() == self.common_dir.resolve():
            return ""
        return self.git_dir.name


def open_repo(path: str | os.PathLike[str]) -> GitRepo:
    """Open the git work tree containing `path`; NotAGitRepo if there is none."""
    where = Path(path).expanduser().resolve()
    if shutil.which("git") is None:
        raise NotAGitRepo(where, "cannot be opened: git is not on PATH", "install git")
    if not where.exists():
        raise NotAGitRepo(where, "does not exist")
    try:
        handle = gitpython.Repo(where, search_parent_directories=True)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError) as exc:
        raise NotAGitRepo(where) from exc
    if handle.bare or handle.working_tree_dir is None:
        raise NotAGitRepo(where, "is a bare repository with no work tree")
    probe = GitRepo(
        root=Path(handle.working_tree_dir),
        git_dir=Path(handle.git_dir),
        common_dir=Path(),
        handle=handle,
    )
    # Ask git itself (GitPython does not check safe.directory, for one).
    proc = probe.run(
        "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir", check=False
    )
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        if "not a git repository" in message:
            raise NotAGitRepo(where)
        raise GitError(["rev-parse"], proc.returncode, message)
    top, git_dir, common = proc.stdout.decode("utf-8", "surrogateescape").splitlines()[:3]
    common_path = Path(common)
    if not common_path.is_absolute():
        common_path = (Path(top) / common_path).resolve()
    return GitRepo(root=Path(top), git_dir=Path(git_dir), common_dir=common_path, handle=handle)
