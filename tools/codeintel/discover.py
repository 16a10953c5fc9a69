"""Which files make up a repository for the map: the one file lister (tools/listing.py)
less the directories never worth mapping, with a memo that skips walking an unchanged tree."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from tools.listing import git_files, walk_files

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
    seen: list[str] = []
    files = git_files(repo, unreadable=seen)
    if files:
        _worth_telling(seen, unreadable)
        return sorted(name for name in files if SKIP_DIRS.isdisjoint(name.split("/")[:-1]))
    # Not a work tree, or a directory its enclosing repository ignores: walk.
    if walk_memo is not None and _memo_still_valid(repo, walk_memo):
        return list(walk_memo["files"])
    stamps: dict[str, int] = {}
    seen.clear()
    files = sorted(walk_files(repo, skip_dir=_not_worth_mapping, stamps=stamps, unreadable=seen))
    _worth_telling(seen, unreadable)
    if walk_memo is not None:
        walk_memo.clear()
        # A directory that could not be read has no mtime to prove the tree unchanged.
        walk_memo.update(files=files, stamps=stamps if not seen else {})
    return files


def _worth_telling(seen: list[str], unreadable: list[str] | None) -> None:
    if unreadable is not None:
        unreadable += [rel for rel in seen if SKIP_DIRS.isdisjoint(rel.split("/"))]


def _not_worth_mapping(rel_dir: str, names: Collection[str]) -> bool:
    """Tool caches, dependency folders and virtual environments (`pyvenv.cfg` marks one)."""
    return rel_dir.rsplit("/", 1)[-1] in SKIP_DIRS or "pyvenv.cfg" in names


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
