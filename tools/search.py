"""The search tools: grep (regex over file contents) and list_files.

Both respect .gitignore and stay inside the repository. ripgrep does the work when it
is installed; otherwise a pure-Python engine gives the same results (see
tools/search_engines.py), only slower. Each result names what it left out and why
(files over 10 MB, binary files that match, unreadable files and directories), counted
with the first few paths, in its text and in `data["skipped"]` (tools/skipped.py).
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field

from tools import search_engines as engines
from tools import skipped
from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.paths import confine, display_path, secret_paths_in_repo

Engine = Literal["auto", "rg", "python"]

DEFAULT_MAX_RESULTS = 100
MAX_MAX_RESULTS = 1000
# Matches counted beyond those shown, so "N more" is honest without scanning forever.
COUNT_CAP = 5000
MAX_MATCH_CHARS = 300
MAX_LISTED_FILES = 500
FOOTER_ROOM = 200

PATH_FIELD = Field(
    default=None, description="File or directory to search, relative to the repository root."
)
GLOB_FIELD = Field(
    default=None,
    description="Only files matching this glob: '*.py' matches names at any depth, "
    "'src/**/*.ts' matches paths from the repository root.",
)


class _EngineTool(Tool):
    def __init__(self, engine: Engine = "auto") -> None:
        self.engine = engine

    def _rg(self) -> str | None:
        if self.engine == "python":
            return None
        found = engines.ripgrep()
        if found is None and self.engine == "rg":
            raise ToolError("ripgrep (rg) is not installed")
        return found


def _start(ctx: ToolContext, raw: str | None) -> str:
    """The search root, confined to the repository, as a repository-relative path."""
    if raw is None or raw.strip() in ("", "."):
        return ""
    path = confine(ctx, raw)
    if not path.exists():
        raise ToolError(f"{raw} does not exist")
    rel = display_path(ctx.repo, path)
    return "" if rel == "." else rel


def _selection(ctx: ToolContext, glob: str | None) -> engines.Selection:
    hidden = tuple(display_path(ctx.repo, p) for p in secret_paths_in_repo(ctx))
    return engines.Selection(glob=glob or None, hidden=hidden)


class GrepArgs(ToolArgs):
    pattern: str = Field(description="Regular expression to search for (one line at a time).")
    path: str | None = PATH_FIELD
    glob: str | None = GLOB_FIELD
    ignore_case: bool = Field(default=False, description="Match case-insensitively.")
    max_results: int = Field(
        default=DEFAULT_MAX_RESULTS, ge=1, le=MAX_MAX_RESULTS, description="Most matches shown."
    )


class Grep(_EngineTool):
    name = "grep"
    description = (
        "Search file contents with a regular expression. Respects .gitignore. Results are "
        "'path:line: text', in path order."
    )
    Args: ClassVar[type[ToolArgs]] = GrepArgs
    side_effect = SideEffect.READ

    def run(self, args: GrepArgs, ctx: ToolContext) -> ToolResult:
        if not args.pattern:
            raise ToolError("pattern is empty")
        if "\n" in args.pattern:
            raise ToolError("pattern contains a line break; grep matches one line at a time")
        start = _start(ctx, args.path)
        if start and engines.is_binary_file(ctx.repo / start):
            # Named explicitly, rg would print raw binary lines; say what it is instead.
            return ToolResult(
                True,
                f"{start} is a binary file; grep searches text files only.",
                {"matches": 0, "files": 0, "binary": True},
            )
        cap = max(COUNT_CAP, args.max_results)
        selection = _selection(ctx, args.glob)
        rg = self._rg()
        found: engines.Found | None = None
        engine = "python"
        if rg is not None:
            try:
                found = engines.rg_grep(
                    rg, ctx.repo, start, args.pattern, args.ignore_case, selection, cap
                )
                engine = "rg"
            except ValueError as rg_error:
                # rg's regex engine lacks look-around and backreferences; Python has them.
                if _compile(args.pattern, args.ignore_case, str(rg_error)) is None:
                    raise
        if found is None:
            regex = _compile(args.pattern, args.ignore_case, None)
            assert regex is not None
            found = engines.python_grep(ctx.repo, start, regex, selection, cap)
        return _grep_result(found, args.max_results, ctx.result_limit, engine)


def _compile(pattern: str, ignore_case: bool, rg_error: str | None) -> re.Pattern[str] | None:
    """Python's compiled pattern; None if invalid and rg's error exists to report instead."""
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        if rg_error is not None:
            raise ToolError(f"invalid regular expression: {rg_error}") from exc
        raise ToolError(f"invalid regular expression: {exc}") from exc


# What grep says of each kind of file it left out (tools/skipped.py).
GREP_SKIPS = {
    skipped.TOO_LARGE: f"{{count}} {{files}} over {engines.MAX_FILE_BYTES >> 20} MB not searched",
    skipped.BINARY: "{count} binary {files} with matches not shown",
    skipped.UNREADABLE: "{count} unreadable {paths} not searched",
}


def _grep_result(
    found: engines.Found, max_results: int, byte_limit: int, engine: str
) -> ToolResult:
    matches, capped = found.matches, found.capped
    total = len(matches)
    files = len({m.path for m in matches})
    total_text = f"more than {total}" if capped else str(total)
    notes = found.skipped.note(GREP_SKIPS)
    data: dict[str, object] = {"matches": total, "files": files, "engine": engine}
    if found.skipped:
        data["skipped"] = found.skipped.data()
    if not matches:
        return ToolResult(True, "No matches.\n" + notes if notes else "No matches.", data)
    rows: list[str] = []
    used = 0
    for match in matches[:max_results]:
        text = match.text.rstrip()
        if len(text) > MAX_MATCH_CHARS:
            text = text[:MAX_MATCH_CHARS] + " ..."
        row = f"{match.path}:{match.line}: {text}\n"
        if rows and used + len(row.encode()) > byte_limit - FOOTER_ROOM - len(notes):
            break
        rows.append(row)
        used += len(row.encode())
    shown = len(rows)
    out = "".join(rows)
    if shown < total or capped:
        files_text = f"{'at least ' if capped else ''}{files} files"
        out += (
            f"[showing {shown} of {total_text} matches in {files_text}; narrow the pattern, "
            "path or glob to see the rest]\n"
        )
    data.update(shown=shown, complete=not capped)
    return ToolResult(True, out + notes, data)


LIST_SKIPS = {skipped.UNREADABLE: "{count} unreadable {paths} not listed"}


class ListFilesArgs(ToolArgs):
    path: str | None = PATH_FIELD
    glob: str | None = GLOB_FIELD


class ListFiles(_EngineTool):
    name = "list_files"
    description = (
        "List files (not ignored by .gitignore) under a directory, sorted, relative to the "
        "repository root. Narrow with path and glob."
    )
    Args: ClassVar[type[ToolArgs]] = ListFilesArgs
    side_effect = SideEffect.READ

    def run(self, args: ListFilesArgs, ctx: ToolContext) -> ToolResult:
        start = _start(ctx, args.path)
        selection = _selection(ctx, args.glob)
        rg = self._rg()
        left_out = skipped.Skipped()
        if rg is not None and not (ctx.repo / start).is_file():
            paths, engine = engines.rg_list(rg, ctx.repo, start, selection, left_out), "rg"
        else:
            paths, engine = engines.python_list(ctx.repo, start, selection, left_out), "python"
        notes = left_out.note(LIST_SKIPS)
        data: dict[str, object] = {"files": len(paths), "shown": 0, "engine": engine}
        if left_out:
            data["skipped"] = left_out.data()
        if not paths:
            return ToolResult(True, "No files.\n" + notes if notes else "No files.", data)
        rows: list[str] = []
        used = 0
        room = ctx.result_limit - FOOTER_ROOM - len(notes)
        for path in paths[:MAX_LISTED_FILES]:
            if rows and used + len(path.encode()) + 1 > room:
                break
            rows.append(path)
            used += len(path.encode()) + 1
        out = "\n".join(rows) + "\n"
        if len(rows) < len(paths):
            out += f"[{len(paths) - len(rows)} more files not shown; narrow with path or glob]\n"
        data["shown"] = len(rows)
        return ToolResult(True, out + notes, data)
