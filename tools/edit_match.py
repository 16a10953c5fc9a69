"""Finding `old_string` in a file, and explaining why when it is not there.

Exact matching only: an edit that applies somewhere the model did not mean is worse
than a refused one. When there is no match the report shows the closest regions with
line numbers and the file's actual text, so the next attempt can copy it exactly.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

# Regions below this similarity are noise, not "what you probably meant".
MIN_SIMILARITY = 0.5
MAX_REGIONS = 3
MAX_SHOWN_LINES = 30
# Regions scored precisely with difflib, after a cheap word-overlap preselection.
PRESELECTED_REGIONS = 6
MAX_COMPARED_CHARS = 200
SHIFTED_LINE_WEIGHT = 0.9

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
    """Up to MAX_REGIONS non-overlapping windows most like `old_lines`: (first, last, score).

    The score is the mean, over old_string's lines, of the best character similarity to
    the window's line at that place (or one line either side, so a missing or extra line
    costs little). Comparing short lines keeps this fast on large files.
    """
    size = min(len(old_lines), len(lines))
    if size == 0:
        return []
    wanted = [line.strip()[:MAX_COMPARED_CHARS] for line in old_lines[:size]]
    stripped = [line.strip()[:MAX_COMPARED_CHARS] for line in lines]
    cache: dict[tuple[str, str], float] = {}
    scored = []
    for start in _preselect(stripped, wanted, size):
        score, first, last = _window_score(stripped, start, wanted, cache)
        if score >= MIN_SIMILARITY:
            scored.append((score, first + 1, last + 1))
    scored.sort(key=lambda item: (-item[0], item[1]))
    chosen: list[tuple[int, int, float]] = []
    for score, first, last in scored:
        if all(last < a or first > b for a, b, _ in chosen):
            chosen.append((first, last, score))
        if len(chosen) == MAX_REGIONS:
            break
    return chosen


def _window_score(
    stripped: list[str], start: int, wanted: list[str], cache: dict[tuple[str, str], float]
) -> tuple[float, int, int]:
    """(score, first, last): first and last are the 0-based lines the best matches used,
    so a region where old_string lacks a line is shown whole."""
    total = 0.0
    used: list[int] = []
    for k, old_line in enumerate(wanted):
        best, best_j = -1.0, start + k
        for j in range(max(start + k - 1, 0), min(start + k + 2, len(stripped))):
            pair = (old_line, stripped[j])
            if pair not in cache:
                cache[pair] = difflib.SequenceMatcher(None, *pair, autojunk=False).ratio()
            # A neighbour counts a little less, so the aligned window wins a tie.
            score = cache[pair] * (1.0 if j == start + k else SHIFTED_LINE_WEIGHT)
            if score > best:
                best, best_j = score, j
        total += best
        used.append(best_j)
    return total / len(wanted), min(used), max(used)


def _preselect(stripped: list[str], wanted: list[str], size: int) -> list[int]:
    """Window starts worth a precise score.

    Lines score 1 when they equal a line of old_string, else by the share of their words
    found in old_string, rare words counting more (every line has `self` or `return`).
    The best few windows, apart from each other, are kept with their neighbours.
    """
    line_words = [set(_WORD.findall(line)) for line in stripped]
    frequency = Counter(word for words in line_words for word in words)
    old_words = set(_WORD.findall("\n".join(wanted)))
    old_set = {line for line in wanted if line}
    line_scores = []
    for line, words in zip(stripped, line_words, strict=True):
        if line in old_set:
            line_scores.append(1.0)
        elif words:
            weight = {w: frequency[w] ** -0.5 for w in words}
            shared = sum(v for w, v in weight.items() if w in old_words)
            line_scores.append(0.8 * shared / sum(weight.values()))
        else:
            line_scores.append(0.0)
    window = sum(line_scores[:size])
    totals = [window]
    for start in range(1, len(stripped) - size + 1):
        window += line_scores[start + size - 1] - line_scores[start - 1]
        totals.append(window)
    picks: list[int] = []
    for start in sorted(range(len(totals)), key=lambda s: (-totals[s], s)):
        if all(abs(start - p) >= size for p in picks):
            picks.append(start)
            if len(picks) == PRESELECTED_REGIONS:
                break
    last = len(totals) - 1
    return sorted({min(max(p + d, 0), last) for p in picks for d in range(-2, 3)})


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
