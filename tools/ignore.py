"""Glob arguments and .gitignore rules.

`glob_matches` reads the `glob` argument of grep and list_files (gitignore-style globs
plus `{a,b}`). `IgnoreRules` applies git's own ignore semantics through pathspec's
GitIgnoreSpec: negation, `**`, anchored and directory-only patterns, each directory's
.gitignore relative to that directory, a deeper file overriding a shallower one and
`.git/info/exclude` beneath them all. tools/listing.py walks a tree with them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

GITIGNORE = ".gitignore"


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


class IgnoreFile:
    """The patterns of one .gitignore (or info/exclude), relative to its directory `base`.

    pathspec parses and compiles the patterns; they are matched here, the last matching
    pattern deciding as in git. A walk never looks inside an ignored directory, so a
    path is matched by its own name, not by the directories above it.
    """

    def __init__(self, base: str, patterns: Sequence[GitIgnoreSpecPattern]) -> None:
        self.base = base  # relative to the walk root, "" at the root
        self.patterns = patterns
        # Last pattern first: (ignores, match, directory-only).
        self._rules = [
            (bool(p.include), p.regex.match, p.pattern.rstrip(" ").endswith("/"))
            for p in reversed(patterns)
            if p.regex is not None and isinstance(p.pattern, str)
        ]

    def decide(self, rel_path: str, is_dir: bool) -> bool | None:
        """True (ignored), False (re-included by `!`) or None (no pattern matches)."""
        if self.base:
            if not rel_path.startswith(self.base + "/"):
                return None
            rel_path = rel_path[len(self.base) + 1 :]
        for ignores, match, dir_only in self._rules:
            # pathspec marks a directory by a trailing "/", but then `dir/**` (everything
            # inside) matches `dir/` too, which git does not do: so a name is matched
            # bare, and with the "/" only by directory-only patterns (`build/`).
            if match(rel_path) or (dir_only and is_dir and match(rel_path + "/")):
                return ignores
        return None

    def without_patterns_ignoring(self, rel_dir: str) -> IgnoreFile:
        kept = [
            p for p in self.patterns if IgnoreFile(self.base, [p]).decide(rel_dir, True) is not True
        ]
        return self if len(kept) == len(self.patterns) else IgnoreFile(self.base, kept)


@dataclass(frozen=True)
class IgnoreRules:
    """The ignore files in force in one directory, the deepest last."""

    files: tuple[IgnoreFile, ...] = ()

    def ignored(self, rel_path: str, is_dir: bool) -> bool:
        """Is a path (relative to the walk root) ignored? The deepest file with a matching
        pattern decides, as in git. Directories above `rel_path` are not looked at: a
        walk does not go into an ignored one."""
        for ignore_file in reversed(self.files):
            decision = ignore_file.decide(rel_path, is_dir)
            if decision is not None:
                return decision
        return False

    def exempt(self, rel_dir: str) -> IgnoreRules:
        """These rules less the patterns that ignore the directory `rel_dir`.

        For a walk from a directory named on purpose: ripgrep searches inside a
        directory it is pointed at even when the directory itself is ignored (and
        pathspec's patterns match everything below a directory they match).
        """
        return IgnoreRules(tuple(f.without_patterns_ignoring(rel_dir) for f in self.files))

    def with_file(self, base: str, path: Path) -> IgnoreRules:
        """These rules plus the ignore file at `path`, whose patterns are relative to `base`."""
        patterns = read_ignore_file(path)
        return IgnoreRules((*self.files, IgnoreFile(base, patterns))) if patterns else self


def read_ignore_file(path: Path) -> Sequence[GitIgnoreSpecPattern]:
    """The patterns of a .gitignore-format file, compiled by pathspec (none if missing)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ()
    from pathspec import GitIgnoreSpec  # imported on first walk: most listings ask git

    return [p for p in GitIgnoreSpec.from_lines(lines).patterns if p.include is not None]
