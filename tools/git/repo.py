"""Opening a repository and running git on the host, safely.

Every git command Tessera runs on the host goes through `HostGit`, GitPython's `Git`
command wrapper with our settings (`GitRepo.git` is the one for a work tree). It turns
off everything a repository (or a sandboxed agent that wrote into it) could use to make
the host run code: hooks, fsmonitor, gc/maintenance triggers. It also drops inherited
`GIT_*` variables (a parent git's GIT_DIR or GIT_INDEX_FILE would otherwise redirect us)
and pins messages to English so errors can be recognised.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Collection, Mapping, Sequence
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

# Set for every host git command. Checkpoint commits are private objects; they get a fixed
# identity so that a machine without user.name/user.email can still take them.
_HOST_ENV = {
    "GIT_AUTHOR_NAME": "Tessera",
    "GIT_AUTHOR_EMAIL": "tessera@localhost",
    "GIT_COMMITTER_NAME": "Tessera",
    "GIT_COMMITTER_EMAIL": "tessera@localhost",
    "LC_ALL": "C",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",  # read-only commands must not rewrite the user's index
}

# A running git started by `HostGit.popen`: a Popen that is ended when dropped.
HostProcess = gitpython.Git.AutoInterrupt

# What a command that could not start (git missing) reports, like a shell would.
_NOT_FOUND = 127


class HostGit(gitpython.Git):
    """GitPython's command wrapper for one directory, with the safety settings.

    GitPython gives each command a copy of our environment with its own additions and
    has no way to remove a variable, so inherited `GIT_*` variables are removed by
    running git through `env -u NAME` (only when there are any).
    """

    def __init__(self, working_dir: str | os.PathLike[str]) -> None:
        super().__init__(working_dir)
        self.update_environment(**_HOST_ENV)

    def argv(
        self, args: Sequence[str], config: Sequence[str] = (), keep: Collection[str] = ()
    ) -> list[str]:
        """The full command line: `-c` safety settings first, then `-C` the directory.

        `keep` names the variables this command sets itself (they are not dropped).
        """
        inherited = sorted(k for k in os.environ if _dropped_variable(k) and k not in keep)
        cmd = ["env", *(f"--unset={name}" for name in inherited), "--"] if inherited else []
        cmd.append(self.GIT_PYTHON_GIT_EXECUTABLE or "git")
        for setting in (*SAFE_CONFIG, *config):
            cmd += ["-c", setting]
        return [*cmd, "-C", str(self.working_dir), *args]

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        check: bool = True,
        config: Sequence[str] = (),
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run one git command; bytes in, bytes out. GitError on failure when `check`."""
        env = dict(env or {})
        argv = self.argv(args, config, env)
        with tempfile.TemporaryFile() if input is not None else contextlib.nullcontext() as stdin:
            if stdin is not None and input is not None:
                stdin.write(input)
                stdin.seek(0)
            try:
                status, out, err = self.execute(
                    argv,
                    istream=stdin,
                    env=env,
                    with_extended_output=True,
                    with_exceptions=False,
                    stdout_as_string=False,
                    strip_newline_in_stdout=False,
                    kill_after_timeout=timeout,
                )
            except gitpython.GitCommandNotFound as exc:
                status, out, err = _NOT_FOUND, b"", str(exc)
        stderr = err.encode("utf-8", "surrogateescape")
        proc = subprocess.CompletedProcess(argv, status, out, stderr)
        if check and proc.returncode != 0:
            raise GitError(args, proc.returncode, err)
        return proc

    def popen(self, *args: str) -> HostProcess:
        """A long-running git with pipes (e.g. `cat-file --batch`); ended when dropped."""
        return self.execute(self.argv(args), istream=subprocess.PIPE, as_process=True)


def _dropped_variable(name: str) -> bool:
    if not name.startswith("GIT_") or name.startswith("GIT_PYTHON_"):  # GitPython's own
        return False
    return name not in _KEPT_GIT_ENV and name not in _HOST_ENV


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
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"git {' '.join(args)} failed ({returncode}): {stderr.strip()}")


@dataclass(frozen=True)
class GitRepo:
    """A git work tree: the main one or a linked worktree."""

    root: Path  # top of the work tree
    git_dir: Path  # this work tree's git dir (.git, or .git/worktrees/<name>)
    common_dir: Path  # the shared one (objects, refs)
    handle: gitpython.Repo

    @functools.cached_property
    def git(self) -> HostGit:
        """The host git entry for this work tree: every command on it goes through here."""
        return HostGit(self.root)

    def out(self, *args: str, **kwargs: object) -> str:
        """Run git and return stdout as text with the trailing newline removed."""
        proc = self.git.run(*args, **kwargs)  # type: ignore[arg-type]
        return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")

    def resolve(self, rev: str) -> str | None:
        """The object id `rev` names, or None (no commits yet, unknown ref)."""
        proc = self.git.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", rev, check=False
        )
        if proc.returncode != 0:
            return None
        return proc.stdout.decode().strip()

    def head_sha(self) -> str | None:
        return self.resolve("HEAD^{commit}")

    def head_branch(self) -> str | None:
        """The branch HEAD points at (refs/heads/...), or None when detached."""
        proc = self.git.run("symbolic-ref", "--quiet", "HEAD", check=False)
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
    proc = probe.git.run(
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
