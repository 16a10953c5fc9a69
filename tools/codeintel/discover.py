"""Which files make up a repository: git's view when it is a git work tree, else a walk."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

# Directory mtimes this fresh are not trusted to prove a listing unchanged.
RACY_WINDOW_NS = 2_000_000_000
# Directories never worth mapping, whatever .gitignore says.
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".idea", ".vscode"}
)  # fmt: skip


# Third-party code kept in the tree: listed by name, not parsed (it is not the project's
# own, and parsing a bundled jQuery costs more than a hundred of the project's files).
VENDORED_DIRS = frozenset({"vendor", "vendored", "third_party", "third-party", "thirdparty"})


def is_vendored(path: str) -> bool:
    return not VENDORED_DIRS.isdisjoint(path.split("/")[:-1])


def list_files(repo: Path, walk_memo: dict[str, Any] | None = None) -> list[str]:
    """Repository files as sorted POSIX paths relative to `repo`.

    Outside git, `walk_memo` (kept by the caller between runs) lets an unchanged tree
    be confirmed by the mtimes of its directories instead of listing them all again.
    """
    files = _git_files(repo)
    if files:
        return sorted(files)
    # Not a work tree, or a directory its enclosing repository ignores: walk.
    if walk_memo is not None and _memo_still_valid(repo, walk_memo):
        return list(walk_memo["files"])
    stamps: dict[str, int] = {}
    files = sorted(_walk(repo, stamps))
    if walk_memo is not None:
        walk_memo.clear()
        walk_memo.update(files=files, stamps=stamps)
    return files


def _memo_still_valid(repo: Path, memo: dict[str, Any]) -> bool:
    """A directory's mtime changes when an entry in it is added, removed or renamed."""
    stamps = memo.get("stamps")
    if not stamps or "files" not in memo:
        return False
    base = str(repo)
    for rel, mtime_ns in stamps.items():
        try:
            if os.stat(os.path.join(base, rel) if rel else base).st_mtime_ns != mtime_ns:
                return False
        except OSError:
            return False
    return True


def _git_files(repo: Path) -> list[str] | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "ls-files", "-z", "-co", "--exclude-standard"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    names = [n for n in done.stdout.decode("utf-8", errors="surrogateescape").split("\0") if n]
    # ls-files names paths relative to `repo` even below the top; drop submodules and
    # tracked files deleted from the work tree, and anything under a skipped directory.
    return [
        name
        for name in names
        if not SKIP_DIRS.intersection(name.split("/")[:-1])
        and os.path.isfile(os.path.join(repo, name))
    ]


def _walk(repo: Path, stamps: dict[str, int] | None = None) -> list[str]:
    """Files under `repo`; records the mtime of each directory (and .gitignore) read."""
    found: list[str] = []
    # Each level carries the .gitignore patterns in force: (directory, patterns) pairs.
    pending: list[tuple[str, str, list[tuple[str, list[str]]]]] = [(str(repo), "", [])]
    while pending:
        directory, rel_dir, ignores = pending.pop()
        try:
            with os.scandir(directory) as scan:
                entries = list(scan)
        except OSError:
            continue
        names = {entry.name for entry in entries}
        if stamps is not None:
            with suppress(OSError):
                stamps[rel_dir] = _stamp(directory)
        if rel_dir and "pyvenv.cfg" in names:
            continue  # a virtual environment
        if ".gitignore" in names:
            if stamps is not None:  # an edited .gitignore changes the listing too
                with suppress(OSError):
                    gitignore = os.path.join(rel_dir, ".gitignore")
                    stamps[gitignore] = _stamp(os.path.join(directory, ".gitignore"))
            if patterns := _read_gitignore(Path(directory, ".gitignore")):
                ignores = [*ignores, (rel_dir, patterns)]
        prefix = rel_dir + "/" if rel_dir else ""
        for entry in entries:
            if entry.is_symlink():
                continue
            path = prefix + entry.name
            if entry.is_dir():
                if entry.name not in SKIP_DIRS and not (ignores and _ignored(path, True, ignores)):
                    pending.append((entry.path, path, ignores))
            elif entry.is_file() and not (ignores and _ignored(path, False, ignores)):
                found.append(path)
    return found


def _stamp(path: str) -> int:
    """A directory's mtime, or -1 (never valid) when it changed too recently to trust:
    an entry added within the same clock tick would leave the mtime as it was."""
    mtime_ns = os.stat(path).st_mtime_ns
    return -1 if time.time_ns() - mtime_ns < RACY_WINDOW_NS else mtime_ns


def _is_within(path: str, directory: str) -> bool:
    return directory == "" or path == directory or path.startswith(directory + "/")


def _read_gitignore(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    # Negations ("!pattern") are not supported: ignoring them errs on listing less.
    return [line.strip() for line in lines if line.strip() and line[0] not in "#!"]


def _ignored(path: str, is_dir: bool, stack: list[tuple[str, list[str]]]) -> bool:
    """A small subset of gitignore: globs, trailing `/` for directories, leading `/`."""
    for base, patterns in stack:
        rel = path[len(base) + 1 :] if base else path
        name = rel.rsplit("/", 1)[-1]
        for pattern in patterns:
            dir_only = pattern.endswith("/")
            pat = pattern.rstrip("/")
            if dir_only and not is_dir:
                continue
            anchored = pat.startswith("/") or "/" in pat
            pat = pat.lstrip("/")
            if pat.startswith("**/"):
                anchored, pat = False, pat[3:]
            target = rel if anchored else name
            if fnmatch.fnmatchcase(target, pat):
                return True
    return False
