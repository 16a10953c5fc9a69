"""Helpers for the git safety tests: real repositories in tmp_path, and fingerprints of
everything a checkpoint must preserve (file bytes and modes, index, HEAD, refs, stash)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

TEST_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str, check: bool = True) -> str:
    """Plain git, as the user would run it (hooks enabled)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(TEST_GIT_ENV)
    proc = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, env=env, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def write(root: Path, rel: str, data: str | bytes, mode: int | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)
    return path


def tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """Every file and symlink outside .git: path -> (sha256 of bytes or link target, mode)."""
    state = {}
    for dirpath, dirs, files in os.walk(root):
        if Path(dirpath) == root and ".git" in dirs:
            dirs.remove(".git")
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                digest = "link:" + os.readlink(path)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path.relative_to(root))] = (digest, info.st_mode)
    return state


def index_state(root: Path) -> tuple[str, str]:
    return git(root, "ls-files", "-s"), git(root, "diff", "--cached", "--no-color")


def refs_state(root: Path) -> dict[str, str]:
    """HEAD, the branch it names, every branch and tag, and the stash."""
    return {
        "HEAD": git(root, "rev-parse", "--verify", "-q", "HEAD", check=False),
        "symbolic": git(root, "symbolic-ref", "-q", "HEAD", check=False),
        "refs": git(root, "for-each-ref", "refs/heads", "refs/tags", "refs/stash"),
        "stash": git(root, "stash", "list"),
    }


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    return root
