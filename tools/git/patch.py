"""Parsing `git diff` output into files and hunks for the review UI.

Input is the bytes of a `git diff`/`diff-tree -p` run with `--no-color --no-ext-diff
--src-prefix=a/ --dst-prefix=b/`. Line text is decoded as UTF-8 with surrogateescape,
so a line can be encoded back to exactly the bytes on disk (a CR of a CRLF file stays
at the end of the text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_ESCAPES = {
    ord("a"): 7, ord("b"): 8, ord("t"): 9, ord("n"): 10, ord("v"): 11, ord("f"): 12,
    ord("r"): 13, ord('"'): 34, ord("\\"): 92,
}  # fmt: skip


class DiffParseError(ValueError):
    pass


@dataclass
class Hunk:
    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    header: str  # the whole "@@ -a,b +c,d @@ context" line
    lines: list[tuple[str, str]] = field(default_factory=list)  # (' ' | '-' | '+', text)
    old_missing_newline: bool = False  # "\ No newline at end of file" after the old side
    new_missing_newline: bool = False

    @property
    def section(self) -> str:
        """The function/section name git printed after the ranges, if any."""
        return self.header.split("@@", 2)[-1].strip()

    def side(self, new: bool) -> list[str]:
        keep = " +" if new else " -"
        return [text for kind, text in self.lines if kind in keep]


@dataclass
class FileDiff:
    path: str  # the new path (the old one for a deleted file)
    old_path: str | None  # set for renames
    status: str  # added | modified | deleted | renamed
    binary: bool = False
    hunks: list[Hunk] = field(default_factory=list)
    old_mode: str | None = None
    new_mode: str | None = None

    @property
    def added_lines(self) -> int:
        return sum(1 for h in self.hunks for kind, _ in h.lines if kind == "+")

    @property
    def removed_lines(self) -> int:
        return sum(1 for h in self.hunks for kind, _ in h.lines if kind == "-")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def unquote_c(raw: bytes) -> bytes:
    """Undo git's C-style quoting of a path ("a\\tb", "\\303\\251")."""
    if not raw.startswith(b'"'):
        return raw
    out = bytearray()
    i = 1
    while i < len(raw) and raw[i] != ord('"'):
        ch = raw[i]
        if ch == ord("\\") and i + 1 < len(raw):
            nxt = raw[i + 1]
            if 48 <= nxt <= 55:  # octal byte
                out.append(int(raw[i + 1 : i + 4], 8))
                i += 4
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return bytes(out)


def _strip_prefix(raw: bytes, prefix: bytes) -> str:
    name = unquote_c(raw.rstrip(b"\t"))
    return _text(name[len(prefix) :] if name.startswith(prefix) else name)


def _header_paths(rest: bytes) -> tuple[str, str]:
    """Paths from the 'diff --git a/X b/Y' line, used when no ---/+++ lines follow."""
    if rest.startswith(b'"'):
        end = 1
        while end < len(rest) and not (rest[end] == ord('"') and rest[end - 1] != ord("\\")):
            end += 1
        first, second = rest[: end + 1], rest[end + 2 :]
        return _strip_prefix(first, b"a/"), _strip_prefix(second, b"b/")
    # Unquoted: old and new are the same name here (renames have their own lines),
    # so the split is the one that makes both halves equal, spaces and all.
    half = (len(rest) - 1) // 2
    first, second = rest[:half], rest[half + 1 :]
    if first[2:] == second[2:]:
        return _text(first[2:]), _text(second[2:])
    first, _, second = rest.partition(b" b/")
    return _strip_prefix(first, b"a/"), _text(second)


def parse_diff(data: bytes) -> list[FileDiff]:
    files: list[FileDiff] = []
    old_names: list[str] = []  # per file: the old side's name, for deleted files
    current: FileDiff | None = None
    hunk: Hunk | None = None
    old_left = new_left = 0
    last_side = " "
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines:
        if hunk is not None and (old_left > 0 or new_left > 0 or line.startswith(b"\\")):
            kind = chr(line[0]) if line else " "
            if kind == "\\":
                if last_side in " -":
                    hunk.old_missing_newline = True
                if last_side in " +":
                    hunk.new_missing_newline = True
                continue
            if kind not in " +-":
                raise DiffParseError(f"unexpected line in hunk: {line[:80]!r}")
            hunk.lines.append((kind, _text(line[1:])))
            last_side = kind
            old_left -= kind in " -"
            new_left -= kind in " +"
            continue
        hunk = None
        if line.startswith(b"diff --git "):
            old, new = _header_paths(line[len(b"diff --git ") :])
            current = FileDiff(path=new, old_path=None, status="modified")
            files.append(current)
            old_names.append(old)
        elif current is None:
            continue
        elif match := _HUNK_RE.match(line):
            old_start, old_count, new_start, new_count, _ = match.groups()
            hunk = Hunk(
                old_start=int(old_start),
                old_lines=int(old_count) if old_count is not None else 1,
                new_start=int(new_start),
                new_lines=int(new_count) if new_count is not None else 1,
                header=_text(line),
            )
            old_left, new_left = hunk.old_lines, hunk.new_lines
            current.hunks.append(hunk)
        elif line.startswith(b"new file mode "):
            current.status, current.new_mode = "added", _text(line.split()[-1])
        elif line.startswith(b"deleted file mode "):
            current.status, current.old_mode = "deleted", _text(line.split()[-1])
        elif line.startswith(b"old mode "):
            current.old_mode = _text(line.split()[-1])
        elif line.startswith(b"new mode "):
            current.new_mode = _text(line.split()[-1])
        elif line.startswith(b"rename from "):
            current.status = "renamed"
            current.old_path = _text(unquote_c(line[len(b"rename from ") :]))
        elif line.startswith(b"rename to "):
            current.path = _text(unquote_c(line[len(b"rename to ") :]))
        elif line.startswith(b"index ") and b" " in line[6:]:
            mode = _text(line.rsplit(b" ", 1)[-1])
            current.old_mode = current.old_mode or mode
            current.new_mode = current.new_mode or mode
        elif line.startswith(b"--- ") and line != b"--- /dev/null":
            old_names[-1] = _strip_prefix(line[4:], b"a/")
        elif line.startswith(b"+++ ") and line != b"+++ /dev/null":
            current.path = _strip_prefix(line[4:], b"b/")
        elif line.startswith(b"Binary files ") or line == b"GIT binary patch":
            current.binary = True
    for diff, old_name in zip(files, old_names, strict=True):
        if diff.status == "deleted":
            diff.path = old_name
    return files
