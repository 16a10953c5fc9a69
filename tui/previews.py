"""What a tool call would change, worked out before it runs: the diff an approval shows.

Pure functions over the call's arguments and the file on disk; nothing is written. The
edit tool's own matching is more forgiving (line endings, indentation), so when the
exact text is not found the preview says so instead of guessing.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

MAX_PREVIEW_BYTES = 2 * 1024 * 1024


def _diff(name: str, before: str, after: str) -> str:
    old = before.replace("\r\n", "\n").splitlines(keepends=True)
    new = after.replace("\r\n", "\n").splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(old, new, f"a/{name}", f"b/{name}"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _read(repo: Path, raw_path: str) -> tuple[str, str | None]:
    """(display name, current text or None when the file does not exist)."""
    path = (repo / raw_path).resolve() if not Path(raw_path).is_absolute() else Path(raw_path)
    try:
        name = path.relative_to(repo.resolve()).as_posix()
    except ValueError:
        name = raw_path
    if not path.is_file():
        return name, None
    if path.stat().st_size > MAX_PREVIEW_BYTES:
        raise ValueError(f"{name} is too large to preview")
    return name, path.read_text(encoding="utf-8", errors="replace")


def preview_change(repo: Path, tool: str, arguments: dict[str, Any] | str) -> str | None:
    """A unified diff for file edits, the command for shell calls, None when there is
    nothing to preview. Problems come back as a one-line note rather than an exception."""
    if not isinstance(arguments, dict):
        return None
    try:
        if tool == "edit_file":
            name, before = _read(repo, str(arguments.get("path", "")))
            old = str(arguments.get("old_string", ""))
            new = str(arguments.get("new_string", ""))
            if before is None:
                return f"({name} does not exist; the edit will fail)"
            if not old or old not in before:
                return (
                    f"(the text to replace is not found verbatim in {name}; the edit tool "
                    "may still match it loosely)"
                )
            count = -1 if arguments.get("replace_all") else 1
            return _diff(name, before, before.replace(old, new, count))
        if tool == "write_file":
            name, before = _read(repo, str(arguments.get("path", "")))
            return _diff(name, before or "", str(arguments.get("content", "")))
    except (OSError, ValueError) as exc:
        return f"(no preview: {exc})"
    if tool == "bash" and isinstance(arguments.get("command"), str):
        return "$ " + arguments["command"]
    return None


def diff_from_result(tool: str, output: str) -> str | None:
    """The unified diff the edit tool appends to its result, if there is one."""
    if tool != "edit_file":
        return None
    at = output.find("\n--- a/")
    return output[at + 1 :] if at >= 0 else None


def summarize_arguments(arguments: dict[str, Any] | str, width: int = 90) -> str:
    """One line for a card header: the path or command first, the rest abbreviated."""
    if isinstance(arguments, str):
        text = arguments
    else:
        lead = next(
            (str(arguments[k]) for k in ("path", "command", "pattern") if k in arguments), None
        )
        rest = {
            k: v
            for k, v in arguments.items()
            if k not in ("path", "command", "pattern", "content", "old_string", "new_string")
        }
        text = lead or ""
        if rest:
            text += (" " if text else "") + json.dumps(rest, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
