"""A conversation as Markdown (`/export`): messages, answers, tool calls folded, diffs.

It reads the transcript's records (tui/records.py), the same ones the screen shows, so
the file says what the person saw. Tool calls are folded in `<details>` blocks, which
GitHub, GitLab and most Markdown viewers show closed; edits keep their diff open below.
No Textual import.
"""

from __future__ import annotations

import json
import re

from tui import records as rec

STATUS_WORD = {"ok": "ok", "failed": "failed", "denied": "denied", "running": "stopped",
               "pending": "not run", "asking": "not answered"}


def fence(text: str, info: str = "") -> str:
    """A code fence longer than any backtick run inside `text`."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def export_markdown(records: list[rec.Record], *, title: str, meta: list[str]) -> str:
    parts = [f"# {title}", "", *(f"- {line}" for line in meta), ""]
    for record in records:
        block = _block(record)
        if block:
            parts += [block, ""]
    return "\n".join(parts).rstrip() + "\n"


def _block(record: rec.Record) -> str:
    if isinstance(record, rec.UserRecord):
        quoted = "\n".join(f"> {line}" if line else ">" for line in record.text.splitlines())
        images = "".join(f"\n>\n> 📎 {chip.label()}" for chip in record.images)
        return f"## You\n\n{quoted}{images}"
    if isinstance(record, rec.TextRecord):
        stopped = "\n\n*(stopped)*" if record.stopped else ""
        return f"**Tessera:**\n\n{record.text.strip()}{stopped}" if record.text.strip() else ""
    if isinstance(record, rec.ThinkingRecord):
        if not record.text.strip():
            return ""
        words = len(record.text.split())
        return (f"<details><summary>thought ({words} words)</summary>\n\n"
                f"{record.text.strip()}\n\n</details>")
    if isinstance(record, rec.ToolRecord):
        return _tool(record)
    if isinstance(record, rec.StepRecord):
        return f"*step {record.step} · effort {record.effort} — {record.reason}*"
    if isinstance(record, rec.NoteRecord):
        if record.level in ("warning", "error"):
            return f"> **{record.level}:** {record.text.strip()}"
        return f"*{record.text.strip()}*"
    return ""


def _tool(record: rec.ToolRecord) -> str:
    arguments = (record.arguments if isinstance(record.arguments, str)
                 else json.dumps(record.arguments, indent=2, ensure_ascii=False))
    lead = _lead(record.arguments)
    status = STATUS_WORD.get(record.status, record.status)
    summary = f"tool <code>{record.name}</code> {_html(lead)} — {status}"
    inner = [fence(arguments, "json" if not isinstance(record.arguments, str) else "")]
    if record.approval_note:
        inner.append(f"approval: {record.approval_note.strip()}")
    output = record.output.removesuffix(record.diff or "").rstrip("\n")
    if output.strip():
        inner.append(fence(output))
    folded = f"<details><summary>{summary}</summary>\n\n" + "\n\n".join(inner) + "\n\n</details>"
    if record.diff:
        return folded + "\n\n" + fence(record.diff, "diff")
    return folded


def _lead(arguments: dict | str) -> str:
    if isinstance(arguments, str):
        text = arguments
    else:
        text = next((str(arguments[k]) for k in ("path", "command", "pattern")
                     if k in arguments), "")
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:79] + "…"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CODE_BLOCK = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown answer, in order, without their fences."""
    return [m.group(2).rstrip("\n") for m in CODE_BLOCK.finditer(text)]
