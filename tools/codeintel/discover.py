"""Which files make up a repository: git's view when it is a git work tree, else a walk."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from pathlib import Path

# Directories never worth mapping, whatever .gitignore says.
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".idea", ".vscode"}
)  # fmt: skip


def list_files(repo: Path) -> list[str]:
    """Repository files as sorted POSIX paths relative to `repo`."""
    files = _git_files(repo)
    if not files:  # not a work tree, or a directory its enclosing repository ignores
        files = _walk(repo)
    return sorted(files)


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
        if not SKIP_DIRS.intersection(name.split("/")[:-1]) and (repo / name).is_file()
    ]


def _walk(repo: Path) -> list[str]:
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
        if rel_dir and "pyvenv.cfg" in names:
            continue  # a virtual environment
        if ".gitignore" in names and (patterns := _read_gitignore(Path(directory, ".gitignore"))):
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
