"""The file tools: read_file, write_file and edit_file.

Every path goes through `confine` (tools/paths.py); every write is atomic and keeps the file's
mode, encoding and line endings; every change is shown to the syntax guard before it
is written. write_file and edit_file work a change out in full first (`FileChange`): `run`
writes it and returns its data (path, created, changed, unified diff) for front ends, and
`preview` returns the same data without writing, for an approval to show.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from tools import edit_match
from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.editor_files import EditorFileError
from tools.paths import confine, display_path
from tools.textio import (
    UTF8,
    BinaryFileError,
    TextFile,
    atomic_write,
    encode,
    looks_binary,
    read_text,
)

DEFAULT_LINE_LIMIT = 2000
MAX_LINE_CHARS = 2000
# Above this, read_file wants an explicit range rather than loading the whole file.
HUGE_FILE_BYTES = 4 * 1024 * 1024
# Room kept under ctx.result_limit for the continuation note.
FOOTER_ROOM = 200


class ReadFileArgs(ToolArgs):
    path: str = Field(description="File path, relative to the repository root.")
    offset: int | None = Field(
        default=None, ge=1, description="1-based line number to start reading at."
    )
    limit: int | None = Field(
        default=None, ge=1, description=f"Maximum number of lines (default {DEFAULT_LINE_LIMIT})."
    )


class ReadFile(Tool):
    name = "read_file"
    description = (
        "Read a text file with line numbers (like `cat -n`). Long files come in pages: "
        "the result says which offset to use to continue. Line numbers are not part of "
        "the file; leave them out of edit_file's old_string."
    )
    Args: ClassVar[type[ToolArgs]] = ReadFileArgs
    side_effect = SideEffect.READ

    def run(self, args: ReadFileArgs, ctx: ToolContext) -> ToolResult:
        path = confine(ctx, args.path)
        name = display_path(ctx.repo, path)
        _require_file(path, name)
        size = path.stat().st_size
        ranged = args.offset is not None or args.limit is not None
        if size > HUGE_FILE_BYTES and not ranged:
            raise ToolError(
                f"{name} is {size / 1024**2:.1f} MB, too large to read whole; read a range "
                "with offset and limit, or find what you need with grep"
            )
        offset, count = args.offset or 1, args.limit or DEFAULT_LINE_LIMIT
        if size > HUGE_FILE_BYTES:
            window, total, encoding = _stream_window(path, name, offset, count)
        else:
            lines, encoding = _all_lines(ctx, path, name)
            window, total = lines[offset - 1 : offset - 1 + count], len(lines)
        return _render(name, window, total, encoding, offset, ctx.result_limit)


class WriteFileArgs(ToolArgs):
    path: str = Field(description="File path, relative to the repository root.")
    content: str = Field(description="The complete new content of the file.")


@dataclass
class FileChange:
    """A write or an edit worked out in full but not written: `run` writes it, `preview`
    shows it, so what an approval shows is what the call does.

    `data()` is the shape both file tools return (and the `tool_result`/`approval` events
    carry, docs/events.md): `path`, `created` (the file did not exist), `changed` (false
    only for a write of the content the file already has), `diff` (unified, LF endings,
    `a/` and `b/` prefixes; from an empty file for a created one), plus each tool's
    `extra` facts.
    """

    path: Path
    name: str
    existed: bool
    before: str | None  # the text now; None when the file is missing or binary
    after: str
    encoded: bytes
    changed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        diff = unified_diff(self.name, self.before or "", self.after) if self.changed else ""
        return {
            "path": self.name,
            "created": not self.existed,
            "changed": self.changed,
            "diff": diff,
            **self.extra,
        }

    def check_syntax(self, ctx: ToolContext) -> str | None:
        """What the syntax guard says about this change (None: fine or not asked)."""
        return _syntax_problem(ctx, self.name, self.before, self.after)

    def preview(self, ctx: ToolContext) -> dict[str, Any]:
        data = self.data()
        problem = self.check_syntax(ctx) if self.changed else None
        if problem is not None:
            data["syntax_error"] = problem
            if ctx.syntax_guard == "refuse":
                data["error"] = _refusal(self.name, problem).text
        return data


class WriteFile(Tool):
    name = "write_file"
    description = (
        "Create a file, or replace the whole content of one. Parent directories are "
        "created. To change part of an existing file use edit_file instead."
    )
    Args: ClassVar[type[ToolArgs]] = WriteFileArgs
    side_effect = SideEffect.WRITE

    def plan(self, args: WriteFileArgs, ctx: ToolContext) -> tuple[FileChange, list[str]]:
        """The change and notes on what was adapted (line endings, encoding)."""
        path = confine(ctx, args.path, for_write=True)
        name = display_path(ctx.repo, path)
        if path.is_dir():
            raise ToolError(f"{name} is a directory")
        existed = path.exists()
        before = _existing_text(ctx, path, name)
        content, encoding, notes = args.content, UTF8, []
        if before is not None:
            encoding = before.encoding
            if before.newline == "\r\n" and "\r\n" not in content:
                content = edit_match.to_newline(content, "\r\n")
                notes.append("kept the file's CRLF line endings")
        try:
            data = encode(content, encoding, name)
        except ToolError:
            if encoding == UTF8:
                raise
            # The whole file is replaced, so moving it to UTF-8 loses nothing.
            notes.append(f"the file was {encoding.label}; it is now utf-8")
            encoding = UTF8
            data = encode(content, encoding, name)
        unchanged = before is not None and before.text == content and before.encoding == encoding
        change = FileChange(
            path,
            name,
            existed,
            before.text if before else None,
            content,
            data,
            changed=not unchanged,
            extra={"lines": _count_lines(content), "bytes": len(data)},
        )
        return change, notes

    def preview(self, args: WriteFileArgs, ctx: ToolContext) -> dict[str, Any]:
        return self.plan(args, ctx)[0].preview(ctx)

    def run(self, args: WriteFileArgs, ctx: ToolContext) -> ToolResult:
        change, notes = self.plan(args, ctx)
        name = change.name
        if not change.changed:
            return ToolResult(
                True, f"{name} already has this content; nothing written.", change.data()
            )
        problem = change.check_syntax(ctx)
        if problem is not None and ctx.syntax_guard == "refuse":
            return _refusal(name, problem)
        _write(ctx, change)
        lines, size = change.extra["lines"], change.extra["bytes"]
        if not change.existed:
            text = f"Created {name} ({lines} lines, {size} bytes)."
        else:
            old_lines = _count_lines(change.before) if change.before is not None else 0
            text = f"Overwrote {name}: {old_lines} -> {lines} lines ({size} bytes)."
        text += "".join(f" Note: {note}." for note in notes) + _warning(problem)
        return ToolResult(True, text, change.data())


class EditFileArgs(ToolArgs):
    path: str = Field(description="File path, relative to the repository root.")
    old_string: str = Field(
        description="Exact text to replace, copied from the file (without line numbers); "
        "include enough surrounding lines to make it unique."
    )
    new_string: str = Field(description="The text to put in its place.")
    replace_all: bool = Field(
        default=False, description="Replace every occurrence instead of requiring one."
    )


class EditFile(Tool):
    name = "edit_file"
    description = (
        "Replace an exact piece of text in a file. old_string must match the file exactly "
        "(whitespace included) and only once, unless replace_all is true. When it does not "
        "match, the result shows the closest regions of the file."
    )
    Args: ClassVar[type[ToolArgs]] = EditFileArgs
    side_effect = SideEffect.WRITE

    def plan(self, args: EditFileArgs, ctx: ToolContext) -> FileChange:
        """The edit, matched as run() matches it (tools/edit_match.py); raises ToolError
        for an edit that cannot apply."""
        if args.old_string == args.new_string:
            raise ToolError("old_string and new_string are identical; there is nothing to change")
        if not args.old_string:
            raise ToolError(
                "old_string is empty; use write_file to create a file or replace all of it"
            )
        path = confine(ctx, args.path, for_write=True)
        name = display_path(ctx.repo, path)
        if not path.exists():
            raise ToolError(f"{name} does not exist; use write_file to create it")
        _require_file(path, name)
        before = _read(ctx, path, name)
        plan = edit_match.plan(before.text, args.old_string, args.new_string, before.newline)
        if not plan.positions:
            raise ToolError(edit_match.describe_miss(before.text, args.old_string, name))
        lines = [edit_match.line_of(before.text, p) for p in plan.positions]
        if len(lines) > 1 and not args.replace_all:
            raise ToolError(
                f"old_string occurs {len(lines)} times in {name} (starting at lines "
                f"{', '.join(map(str, lines))}); include more surrounding lines to make it "
                "unique, or set replace_all to true to replace every occurrence"
            )
        after = edit_match.apply(before.text, plan, args.replace_all)
        if after == before.text:
            raise ToolError("the edit changes nothing once line endings are matched to the file")
        return FileChange(
            path,
            name,
            True,
            before.text,
            after,
            encode(after, before.encoding, name),
            extra={"replacements": len(lines), "at_lines": lines},
        )

    def preview(self, args: EditFileArgs, ctx: ToolContext) -> dict[str, Any]:
        return self.plan(args, ctx).preview(ctx)

    def run(self, args: EditFileArgs, ctx: ToolContext) -> ToolResult:
        change = self.plan(args, ctx)
        problem = change.check_syntax(ctx)
        if problem is not None and ctx.syntax_guard == "refuse":
            return _refusal(change.name, problem)
        _write(ctx, change)
        data = change.data()
        lines = data["at_lines"]
        count = len(lines)
        where = f"line {lines[0]}" if count == 1 else f"lines {', '.join(map(str, lines))}"
        text = (
            f"Edited {change.name}: replaced {count} occurrence{'s' if count > 1 else ''} "
            f"at {where}."
        )
        return ToolResult(True, text + _warning(problem) + "\n" + data["diff"], data)


def unified_diff(name: str, before: str, after: str) -> str:
    """A unified diff with LF line endings, which is what front ends render."""
    old = before.replace("\r\n", "\n").splitlines(keepends=True)
    new = after.replace("\r\n", "\n").splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(old, new, f"a/{name}", f"b/{name}"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _syntax_problem(ctx: ToolContext, name: str, before: str | None, after: str) -> str | None:
    """What the syntax guard says about a change before it is written (None: fine)."""
    if ctx.syntax_guard not in ("refuse", "warn"):
        return None
    from tools import syntax_guard  # tree-sitter is heavy; load it on the first write

    return syntax_guard.check_edit(Path(name), before, after)


def _refusal(name: str, problem: str) -> ToolResult:
    return ToolResult.error(
        f"Refused: {problem}\n{name} is unchanged; correct the change so the file still parses.",
        path=name,
        syntax_error=problem,
    )


def _warning(problem: str | None) -> str:
    return "" if problem is None else f"\nWarning: {problem}"


def _require_file(path: Path, name: str) -> None:
    if path.is_dir():
        raise ToolError(f"{name} is a directory; use list_files to see what is in it")
    if not path.exists():
        siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
        close = difflib.get_close_matches(path.name, siblings, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ToolError(f"{name} does not exist{hint}")
    if not path.is_file():
        raise ToolError(f"{name} is not a regular file")


def _read(ctx: ToolContext, path: Path, name: str) -> TextFile:
    """The file's text: the editor's buffer when an editor drives the session (its
    encoding is the file's on disk, for a write that falls back to the disk), else the
    disk's."""
    if ctx.editor is not None:
        try:
            text = ctx.editor.read(path)
        except EditorFileError as exc:
            raise ToolError(f"the editor could not read {name}: {exc}") from exc
        if text is not None:
            encoding = read_text(path, name).encoding if path.is_file() else UTF8
            return TextFile(text, encoding)
    return read_text(path, name)


def _write(ctx: ToolContext, change: FileChange) -> None:
    """Write the change: into the editor's buffer when it takes writes, else the disk."""
    if ctx.editor is not None:
        try:
            if ctx.editor.write(change.path, change.after):
                return
        except EditorFileError as exc:
            raise ToolError(f"the editor could not write {change.name}: {exc}") from exc
    atomic_write(change.path, change.encoded, change.name)


def _existing_text(ctx: ToolContext, path: Path, name: str) -> TextFile | None:
    if not path.exists():
        return None
    try:
        return _read(ctx, path, name)
    except BinaryFileError:
        return None  # replacing a binary file wholesale: nothing to keep from it


def _count_lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _all_lines(ctx: ToolContext, path: Path, name: str) -> tuple[list[str], str]:
    file = _read(ctx, path, name)
    lines = file.text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines], file.encoding.label


def _stream_window(path: Path, name: str, offset: int, count: int) -> tuple[list[str], int, str]:
    """Lines offset..offset+count-1 of a huge file and its line count, keeping only those."""
    window: list[str] = []
    total = 0
    with path.open("rb") as handle:
        head = handle.read(8192)
        if looks_binary(head):
            raise ToolError(f"{name} is a binary file (it contains NUL bytes)")
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise ToolError(f"{name} is a large UTF-16 file; only UTF-8 is read in ranges")
        handle.seek(0)
        for raw in handle:
            total += 1
            if offset <= total < offset + count:
                line = raw.removesuffix(b"\n").removesuffix(b"\r")
                window.append(line.decode("utf-8", "replace"))
    return window, total, "utf-8 (large file, read by line)"


def _render(
    name: str, window: list[str], total: int, encoding: str, offset: int, byte_limit: int
) -> ToolResult:
    """Number the lines of `window` (which starts at line `offset`) within `byte_limit`."""
    if total == 0:
        return ToolResult(True, f"{name} is empty.", {"path": name, "total_lines": 0})
    if offset > total:
        raise ToolError(f"offset {offset} is past the end of {name}, which has {total} lines")
    budget = max(byte_limit - FOOTER_ROOM, 1)
    out: list[str] = []
    used = 0
    end = offset - 1
    for number, line in enumerate(window, start=offset):
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f" ... [line truncated: {len(line)} characters]"
        row = f"{number:>6}\t{line}\n"
        size = len(row.encode("utf-8", "replace"))
        if out and used + size > budget:
            break
        out.append(row)
        used += size
        end = number
    text = "".join(out)
    next_offset = end + 1 if end < total else None
    if next_offset is not None:
        text += (
            f"[showing lines {offset}-{end} of {total}; {total - end} more lines; "
            f"continue with offset={next_offset}]\n"
        )
    return ToolResult(
        True,
        text,
        {
            "path": name,
            "start_line": offset,
            "end_line": end,
            "total_lines": total,
            "next_offset": next_offset,
            "encoding": encoding,
        },
    )
