"""Which files make up a repository for the map: the one file lister (tools/listing.py)
less the directories never worth mapping, with a memo that skips walking an unchanged tree."""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from tools.ignore import GITIGNORE
from tools.listing import git_files, stamp, walk_files

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


def list_files(
    repo: Path, walk_memo: dict[str, Any] | None = None, unreadable: list[str] | None = None
) -> list[str]:
    """Repository files as sorted POSIX paths relative to `repo`; the directories that
    could not be read go to `unreadable`.

    Outside git, `walk_memo` (kept by the caller between runs) lets an unchanged tree
    be confirmed by the mtimes of its directories instead of listing them all again.
    """
    if walk_memo is not None and _memo_still_valid(repo, walk_memo):
        return list(walk_memo["files"])
    seen: list[str] = []
    files = git_files(repo, unreadable=seen)
    if files:
        _worth_telling(seen, unreadable)
        listed = sorted(name for name in files if SKIP_DIRS.isdisjoint(name.split("/")[:-1]))
        if walk_memo is not None:
            walk_memo.clear()
            stamps = _git_stamps(repo, listed) if not seen else {}
            walk_memo.update(files=listed, stamps=stamps, listed_at=time.time_ns())
        return listed
    # Not a work tree, or a directory its enclosing repository ignores: walk.
    stamps: dict[str, int] = {}
    seen.clear()
    files = sorted(walk_files(repo, skip_dir=_not_worth_mapping, stamps=stamps, unreadable=seen))
    _worth_telling(seen, unreadable)
    if walk_memo is not None:
        walk_memo.clear()
        # A directory that could not be read has no mtime to prove the tree unchanged.
        walk_memo.update(files=files, stamps=stamps if not seen else {}, listed_at=time.time_ns())
    return files


def _worth_telling(seen: list[str], unreadable: list[str] | None) -> None:
    if unreadable is not None:
        unreadable += [rel for rel in seen if SKIP_DIRS.isdisjoint(rel.split("/"))]


def _not_worth_mapping(rel_dir: str, names: Collection[str]) -> bool:
    """Tool caches, dependency folders and virtual environments (`pyvenv.cfg` marks one)."""
    return rel_dir.rsplit("/", 1)[-1] in SKIP_DIRS or "pyvenv.cfg" in names


def _git_stamps(repo: Path, listed: list[str]) -> dict[str, int]:
    """What proves a git listing unchanged without asking git again (which, with the
    check that each file is still a file, costs a monorepo most of a second).

    Files enter or leave the listing when the index changes (add, rm, checkout, commit),
    when an ignore file changes, or when an entry is added to or removed from a
    directory: the mtimes of the index, the ignore files, every directory holding a
    listed file and each of their subdirectories (a new directory starts empty, so its
    parent's stamp alone would not see the files put in it later). Only for a repository
    root: a subdirectory's listing also depends on ignore files above it.
    """
    from tools.sandbox.bwrap import git_metadata_paths  # only when listing again

    metadata = [path for path in git_metadata_paths(repo) if path.is_dir()]
    if not metadata:
        return {}
    watched = [str(m / name) for m in metadata for name in ("index", "info/exclude")]
    watched.append(str(_global_excludes()))
    directories = {""}
    for rel in listed:
        parent = rel.rpartition("/")[0]
        while parent not in directories:
            directories.add(parent)
            parent = parent.rpartition("/")[0]
    base = str(repo)
    for rel_dir in list(directories):
        try:
            with os.scandir(os.path.join(base, rel_dir)) as entries:
                prefix = rel_dir + "/" if rel_dir else ""
                directories.update(
                    prefix + entry.name
                    for entry in entries
                    if entry.is_dir(follow_symlinks=False) and entry.name != ".git"
                )
        except OSError:
            return {}
    stamps = {rel: _stamp_or_absent(os.path.join(base, rel)) for rel in directories}
    stamps.update((rel, _stamp_or_absent(os.path.join(base, rel))) for rel in listed
                  if rel.rpartition("/")[2] == GITIGNORE)  # fmt: skip
    stamps.update((path, _stamp_or_absent(path)) for path in watched)
    return {} if any(value == -1 for value in stamps.values()) else stamps


def _global_excludes() -> Path:
    """git's default global ignore file (a `core.excludesFile` elsewhere is not watched)."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(config) / "git" / "ignore"


def _stamp_or_absent(path: str) -> int:
    """The trusted mtime (-1 when too fresh), or -2 for a path that does not exist."""
    try:
        return stamp(path)
    except OSError:
        return ABSENT


ABSENT = -2


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
            if mtime_ns != ABSENT:
                return False
    return True
