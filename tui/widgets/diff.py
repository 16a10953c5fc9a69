"""Unified diffs as Rich text: code highlighted by the file's language, additions and
removals on tinted backgrounds. Used by tool cards, approvals and the review screen."""

from __future__ import annotations

from rich.console import Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

ADDED_BG = "on #12351d"
REMOVED_BG = "on #3d1418"
THEME = "monokai"


def _lexer_for(path: str) -> str:
    lexer = Syntax.guess_lexer(path, "")
    return lexer or "text"


def _highlighted(lines: list[str], path: str) -> list[Text]:
    """Highlight all lines in one pass (much cheaper than line by line)."""
    if not lines:
        return []
    syntax = Syntax("", _lexer_for(path), theme=THEME)
    text = syntax.highlight("\n".join(lines))
    text.rstrip()
    parts = text.split("\n", allow_blank=True)
    # highlight() may drop trailing empty lines; pad so the counts always agree.
    parts = list(parts)[: len(lines)]
    while len(parts) < len(lines):
        parts.append(Text(""))
    return parts


def render_hunk_lines(lines: list[tuple[str, str]], path: str) -> Text:
    """Lines of one hunk as (kind, text) with kind in ' ', '-', '+'."""
    highlighted = _highlighted([text.rstrip("\r") for _, text in lines], path)
    out = Text(no_wrap=False)
    for (kind, _), code in zip(lines, highlighted, strict=True):
        style = ADDED_BG if kind == "+" else REMOVED_BG if kind == "-" else ""
        marker = Text(
            kind if kind != " " else " ",
            style="bold green" if kind == "+" else "bold red" if kind == "-" else "dim",
        )
        line = Text.assemble(marker, code)
        if style:
            line.stylize(style)
        out.append_text(line)
        out.append("\n")
    out.rstrip()
    return out


def parse_unified(diff: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """A unified diff text as [(path, hunk header, lines)], tolerant of anything else."""
    hunks: list[tuple[str, str, list[tuple[str, str]]]] = []
    path = ""
    for raw in diff.splitlines():
        if raw.startswith("+++ "):
            path = raw[4:].removeprefix("b/")
        elif raw.startswith("--- "):
            path = raw[4:].removeprefix("a/")
        elif raw.startswith("@@"):
            hunks.append((path, raw, []))
        elif hunks and raw[:1] in (" ", "+", "-"):
            hunks[-1][2].append((raw[0], raw[1:]))
        elif hunks and raw == "":
            hunks[-1][2].append((" ", ""))
    return hunks


def render_unified(diff: str, max_lines: int | None = None) -> Group | Text:
    """A whole unified diff, optionally cut after `max_lines` diff lines (said so)."""
    hunks = parse_unified(diff)
    if not hunks:
        return Text(diff.rstrip("\n"), style="dim")
    parts: list[Text] = []
    shown = 0
    total = sum(len(lines) for _, _, lines in hunks)
    last_path = None
    for path, header, lines in hunks:
        if path != last_path:
            parts.append(Text(path, style="bold"))
            last_path = path
        if max_lines is not None and shown >= max_lines:
            break
        room = len(lines) if max_lines is None else max(0, max_lines - shown)
        parts.append(Text(header, style="cyan dim"))
        parts.append(render_hunk_lines(lines[:room], path))
        shown += min(room, len(lines))
    if max_lines is not None and shown < total:
        parts.append(Text(f"… {total - shown} more diff lines", style="dim italic"))
    return Group(*parts)


def side_by_side(lines: list[tuple[str, str]], path: str) -> Table:
    """A hunk as two columns: the old side on the left, the new on the right."""
    table = Table.grid(expand=True, padding=(0, 1))
    table.add_column(ratio=1)
    table.add_column(ratio=1)
    old = [(k, t) for k, t in lines if k in " -"]
    new = [(k, t) for k, t in lines if k in " +"]
    old_text = _highlighted([t for _, t in old], path)
    new_text = _highlighted([t for _, t in new], path)
    # Align runs: context lines pair up; removals pair with the additions after them.
    left: list[Text] = []
    right: list[Text] = []
    i = j = 0
    while i < len(old) or j < len(new):
        if i < len(old) and j < len(new) and old[i][0] == " " and new[j][0] == " ":
            left.append(old_text[i])
            right.append(new_text[j])
            i += 1
            j += 1
            continue
        run_old = []
        while i < len(old) and old[i][0] == "-":
            run_old.append(old_text[i].copy())
            run_old[-1].stylize(REMOVED_BG)
            i += 1
        run_new = []
        while j < len(new) and new[j][0] == "+":
            run_new.append(new_text[j].copy())
            run_new[-1].stylize(ADDED_BG)
            j += 1
        if not run_old and not run_new:  # unbalanced context (should not happen); advance
            if i < len(old):
                left.append(old_text[i])
                right.append(Text(""))
                i += 1
            else:
                left.append(Text(""))
                right.append(new_text[j])
                j += 1
            continue
        for k in range(max(len(run_old), len(run_new))):
            left.append(run_old[k] if k < len(run_old) else Text(""))
            right.append(run_new[k] if k < len(run_new) else Text(""))
    for a, b in zip(left, right, strict=True):
        table.add_row(a, b)
    return table
