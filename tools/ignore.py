"""Glob patterns and .gitignore rules, for walking a tree the way ripgrep does.

Used by the pure-Python search fallback when ripgrep is missing (and, for `glob`
arguments, by both engines: ripgrep's own `--glob` overrides .gitignore, which is not
what a model asking for `*.py` means).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GITIGNORE = ".gitignore"
# Never listed or searched: the repository database (its objects are not source).
SKIPPED_NAMES = frozenset({".git"})


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a gitignore-style glob (`*`, `?`, `[...]`, `**`, `{a,b}`) to a regex.

    `*` and `?` never cross `/`; `**/` matches any number of directories.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                out.append(re.escape(char))
                i += 1
            else:
                body = pattern[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
        elif char == "{" and "}" in pattern[i:]:
            end = pattern.index("}", i)
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(glob_regex(o).pattern[:-2] for o in options) + ")")
            i = end + 1
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_matches(rel_path: str, pattern: str) -> bool:
    """Does a repository-relative path match a `glob` argument?

    A pattern without `/` matches the file name at any depth (`*.py`); one with `/`
    matches the whole path from the repository root (`src/**/*.ts`).
    """
    pattern = pattern.strip()
    if "/" not in pattern.rstrip("/"):
        return glob_regex(pattern.rstrip("/")).match(rel_path.rsplit("/", 1)[-1]) is not None
    return glob_regex(pattern.lstrip("/")).match(rel_path) is not None


@dataclass(frozen=True)
class IgnoreRule:
    base: str  # directory of the .gitignore, relative to the walk root ("" at the root)
    regex: re.Pattern[str]
    anchored: bool  # matched against the path from `base`, not just the name
    negated: bool
    dir_only: bool

    def matches(self, rel_path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not rel_path.startswith(self.base + "/"):
                return False
            rel_path = rel_path[len(self.base) + 1 :]
        target = rel_path if self.anchored else rel_path.rsplit("/", 1)[-1]
        return self.regex.match(target) is not None


def parse_gitignore(text: str, base: str) -> list[IgnoreRule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated or line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        rules.append(IgnoreRule(base, glob_regex(line.lstrip("/")), anchored, negated, dir_only))
    return rules


def is_ignored(rules: list[IgnoreRule], rel_path: str, is_dir: bool) -> bool:
    """The last matching rule decides, as in git."""
    for rule in reversed(rules):
        if rule.matches(rel_path, is_dir):
            return not rule.negated
    return False


def walk_files(root: Path, start: str = "") -> Iterator[str]:
    """Regular files under `root/start` not ignored by .gitignore files, in ripgrep's
    `--sort path` order. Symlinks are skipped, as ripgrep does without `--follow`.

    .gitignore files in the directories above `start` (up to `root`) also apply.
    """
    rules: list[IgnoreRule] = []
    base_parts = [p for p in start.split("/") if p]
    for depth in range(len(base_parts)):
        rules += _rules_in(root, "/".join(base_parts[:depth]))
    yield from _walk(root, "/".join(base_parts), rules)


def _walk(root: Path, rel_dir: str, inherited: list[IgnoreRule]) -> Iterator[str]:
    rules = inherited + _rules_in(root, rel_dir)
    try:
        entries = sorted(os.scandir(root / rel_dir), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name in SKIPPED_NAMES or entry.is_symlink():
            continue
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if is_ignored(rules, rel, is_dir):
            continue
        if is_dir:
            yield from _walk(root, rel, rules)
        elif entry.is_file(follow_symlinks=False):
            yield rel


def _rules_in(root: Path, rel_dir: str) -> list[IgnoreRule]:
    try:
        text = (root / rel_dir / GITIGNORE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return parse_gitignore(text, rel_dir)
