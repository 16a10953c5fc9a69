"""The syntax guard: does an edit break a file that parsed cleanly before?

Edit tools call `check_edit` before writing. It answers None when the change is fine
(unknown language, no grammar installed, the file was already broken, or the result
parses cleanly) and otherwise a message naming where the new syntax error is, with a
snippet. Whether that refuses the edit or only warns is the caller's choice
(`ToolContext.syntax_guard`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tools.codeintel.languages import parser_for_path

if TYPE_CHECKING:
    from tree_sitter import Node

SNIPPET_CONTEXT_LINES = 2
SNIPPET_MAX_LINES = 9


@dataclass(frozen=True)
class SyntaxProblem:
    kind: str  # "ERROR" or "MISSING <symbol>"
    line: int  # 1-based
    column: int  # 1-based, in characters
    end_line: int


def check_edit(path: Path, before: str | None, after: str) -> str | None:
    """None if the change may be written; otherwise why it breaks the file's syntax.

    `before` is None for a new file: a new file that does not parse counts as broken.
    """
    found = parser_for_path(path)
    if found is None:
        return None
    language, parser = found
    if before is not None and parser.parse(before.encode("utf-8")).root_node.has_error:
        return None
    after_bytes = after.encode("utf-8")
    root = parser.parse(after_bytes).root_node
    if not root.has_error:
        return None
    problems = find_problems(root, after_bytes)
    if not problems:  # has_error with nothing locatable: do not block on a guess
        return None
    edited = changed_lines(before, after)
    problem = _most_relevant(problems, edited)
    line, column = _focus(problem, edited, after)
    where = f"line {line}:{column}"
    if problem.end_line > problem.line:
        where += f" (the unparsable region spans lines {problem.line}-{problem.end_line})"
    more = f"; {len(problems) - 1} more problem(s) after it" if len(problems) > 1 else ""
    what = "a new file that" if before is None else "this change, which"
    return (
        f"{path}: {what} does not parse as {language}: {problem.kind.lower()} at {where}{more}\n"
        + snippet(after, line, column, problem.end_line)
    )


def changed_lines(before: str | None, after: str) -> tuple[int, int] | None:
    """The 1-based line range of `after` that differs from `before` (None: all new)."""
    if before is None:
        return None
    old, new = before.splitlines(), after.splitlines()
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(old), len(new)) - prefix
        and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]
    ):
        suffix += 1
    first = prefix + 1
    return first, max(first, len(new) - suffix)


def _overlaps(problem: SyntaxProblem, edited: tuple[int, int]) -> bool:
    return problem.line <= edited[1] and edited[0] <= problem.end_line


def _most_relevant(problems: list[SyntaxProblem], edited: tuple[int, int] | None) -> SyntaxProblem:
    """The first problem touching the edited lines, else the first problem."""
    if edited is not None:
        for problem in problems:
            if _overlaps(problem, edited):
                return problem
    return problems[0]


def _focus(problem: SyntaxProblem, edited: tuple[int, int] | None, text: str) -> tuple[int, int]:
    """Where to point: inside a large ERROR region, the first edited line it covers."""
    if edited is None or not _overlaps(problem, edited) or edited[0] <= problem.line:
        return problem.line, problem.column
    line = edited[0]
    content = text.splitlines()[line - 1] if line - 1 < len(text.splitlines()) else ""
    return line, len(content) - len(content.lstrip()) + 1


def find_problems(root: Node, source: bytes) -> list[SyntaxProblem]:
    """ERROR and MISSING nodes in document order, outermost only."""
    problems: list[SyntaxProblem] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            problems.append(_problem(node, f"MISSING {node.type}", source))
            continue
        if node.is_error:
            problems.append(_problem(node, "ERROR", source))
            continue
        # Only subtrees that contain a problem are worth descending into.
        stack.extend(child for child in reversed(node.children) if child.has_error)
    return problems


def _problem(node: Node, kind: str, source: bytes) -> SyntaxProblem:
    row, byte_column = node.start_point
    line_start = node.start_byte - byte_column
    column = len(source[line_start : node.start_byte].decode("utf-8", errors="replace")) + 1
    return SyntaxProblem(kind=kind, line=row + 1, column=column, end_line=node.end_point[0] + 1)


def snippet(text: str, line: int, column: int, end_line: int) -> str:
    """The broken region with line numbers and a caret under `line`:`column`."""
    lines = text.splitlines()
    # A MISSING node can sit on the empty line after a final newline.
    total = max(len(lines), line)
    first = max(1, line - SNIPPET_CONTEXT_LINES)
    last = min(total, max(line, end_line) + SNIPPET_CONTEXT_LINES)
    last = max(line, min(last, first + SNIPPET_MAX_LINES - 1))
    width = len(str(last))
    out: list[str] = []
    for number in range(first, last + 1):
        marker = ">" if number == line else " "
        content = lines[number - 1] if number - 1 < len(lines) else ""
        out.append(f"{marker}{number:>{width}} | {content}")
        if number == line:
            # Keep tabs so the caret lines up under tab-indented code.
            lead = "".join("\t" if ch == "\t" else " " for ch in content[: column - 1])
            out.append(" " * (width + 4) + lead + "^")
    return "\n".join(out)
