"""Finding `old_string` in a file, and explaining why when it is not there.

Exact matching only: an edit that applies somewhere the model did not mean is worse
than a refused one. When there is no match the report shows the closest regions with
line numbers and the file's actual text, so the next attempt can copy it exactly.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# Regions below this similarity are noise, not "what you probably meant".
MIN_SIMILARITY = 0.5
MAX_REGIONS = 3
MAX_SHOWN_LINES = 30
# Windows scored precisely with difflib, after a cheap token-overlap preselection.
PRECISE_CANDIDATES = 12

_WORD = re.compile(r"\w+")
_LINE_NUMBER_PREFIX = re.compile(r"^\s*\d+\t")


@dataclass(frozen=True)
class Replacement:
    old: str  # the form of old_string that matched (perhaps with CRLF line endings)
    new: str
    positions: list[int]  # start offsets, non-overlapping, in file order


def to_newline(text: str, newline: str) -> str:
    """Give every line break in `text` the ending `newline`."""
    lf = text.replace("\r\n", "\n")
    return lf if newline == "\n" else lf.replace("\n", newline)


def find_all(text: str, needle: str) -> list[int]:
    """Start offsets of the non-overlapping occurrences str.replace would replace."""
    positions = []
    start = text.find(needle)
    while start != -1:
        positions.append(start)
        start = text.find(needle, start + len(needle))
    return positions


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def plan(text: str, old: str, new: str, newline: str) -> Replacement:
    """Match `old` as given or with the file's line endings; positions empty if neither."""
    variants = [(old, new)]
    converted = (to_newline(old, newline), to_newline(new, newline))
    if converted[0] != old:
        # The file's own line endings first: the model writes LF even in CRLF files.
        variants.insert(0, converted)
    elif "\n" not in old and "\n" in new:
        # A one-line match gains lines: they get the file's line ending.
        variants = [(old, converted[1])]
    for old_form, new_form in variants:
        positions = find_all(text, old_form)
        if positions:
            return Replacement(old_form, new_form, positions)
    return Replacement(old, new, [])


def apply(text: str, replacement: Replacement, replace_all: bool) -> str:
    if replace_all:
        return text.replace(replacement.old, replacement.new)
    return text.replace(replacement.old, replacement.new, 1)


def describe_miss(text: str, old: str, name: str) -> str:
    """Why `old` is not in `text`: closest regions with line numbers and hints."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    old_lines = [line.rstrip("\r") for line in old.strip("\r\n").split("\n")]
    parts = [f"old_string was not found in {name}."]
    if all(_LINE_NUMBER_PREFIX.match(line) for line in old_lines if line.strip()):
        parts.append(
            "old_string starts its lines with line numbers as read_file shows them; "
            "leave the numbers and the tab after them out."
        )
    loose = _whitespace_insensitive_match(lines, old_lines)
    if loose is not None:
        first, last = loose
        parts.append(
            f"It matches lines {first}-{last} if whitespace is ignored: the indentation, tabs "
            "or spacing differ. The file has:\n" + _numbered(lines, first, last)
        )
        return "\n".join(parts)
    regions = closest_regions(lines, old_lines)
    if not regions:
        parts.append(
            "No similar region exists; the file may have changed. "
            "Read it again with read_file before editing."
        )
        return "\n".join(parts)
    first, last, score = regions[0]
    parts.append(
        f"The closest region is lines {first}-{last} ({score:.0%} similar); the file has:\n"
        + _numbered(lines, first, last)
    )
    if len(regions) > 1:
        others = ", ".join(f"lines {a}-{b} ({s:.0%})" for a, b, s in regions[1:])
        parts.append(f"Other similar regions: {others}.")
    parts.append("Copy the text exactly as it appears in the file (without line numbers).")
    return "\n".join(parts)


def closest_regions(lines: list[str], old_lines: list[str]) -> list[tuple[int, int, float]]:
    """Up to MAX_REGIONS non-overlapping windows most like `old_lines`: (first, last, ratio)."""
    size = min(len(old_lines), len(lines))
    if size == 0:
        return []
    old_text = "\n".join(line.strip() for line in old_lines)
    starts = _preselect(lines, old_lines, size)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(old_text)
    scored = []
    for start in starts:
        matcher.set_seq1("\n".join(line.strip() for line in lines[start : start + size]))
        if matcher.real_quick_ratio() >= MIN_SIMILARITY and matcher.quick_ratio() >= MIN_SIMILARITY:
            ratio = matcher.ratio()
            if ratio >= MIN_SIMILARITY:
                scored.append((ratio, start))
    scored.sort(key=lambda item: (-item[0], item[1]))
    chosen: list[tuple[int, int, float]] = []
    for ratio, start in scored:
        if all(start + size < a or start + 1 > b for a, b, _ in chosen):
            chosen.append((start + 1, start + size, ratio))
        if len(chosen) == MAX_REGIONS:
            break
    return chosen


def _preselect(lines: list[str], old_lines: list[str], size: int) -> list[int]:
    """Window starts worth a precise score: best by the share of words shared with old."""
    old_words = set(_WORD.findall("\n".join(old_lines)))
    line_scores = []
    for line in lines:
        words = _WORD.findall(line)
        line_scores.append(sum(w in old_words for w in words) / len(words) if words else 0.0)
    window = sum(line_scores[:size])
    totals = [window]
    for start in range(1, len(lines) - size + 1):
        window += line_scores[start + size - 1] - line_scores[start - 1]
        totals.append(window)
    ranked = sorted(range(len(totals)), key=lambda s: (-totals[s], s))
    return ranked[:PRECISE_CANDIDATES]


def _whitespace_insensitive_match(lines: list[str], old_lines: list[str]) -> tuple[int, int] | None:
    """First (first, last) line range containing old_lines once all whitespace is squeezed."""
    wanted = [_squeeze(line) for line in old_lines]
    while wanted and not wanted[0]:
        wanted.pop(0)
    if not wanted:
        return None
    target = " ".join(w for w in wanted if w)
    squeezed = [_squeeze(line) for line in lines]
    for start, line in enumerate(squeezed):
        if wanted[0] not in line:
            continue
        joined = ""
        for end in range(start, len(lines)):
            if squeezed[end]:
                joined = f"{joined} {squeezed[end]}" if joined else squeezed[end]
            if target in joined:
                return start + 1, end + 1
            if len(joined) > len(target) + len(line) + 1:
                break
    return None


def _squeeze(line: str) -> str:
    return " ".join(line.split())


def _numbered(lines: list[str], first: int, last: int) -> str:
    shown_last = min(last, first + MAX_SHOWN_LINES - 1)
    body = "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(first, shown_last + 1))
    if shown_last < last:
        body += f"\n   ... ({last - shown_last} more lines)"
    return body
