"""Transcript entries: a plain record of what to show, and one light widget that shows it.

Every entry is a single widget that renders Rich renderables (no nested widget trees),
so a long transcript costs one widget per entry at most, and the transcript can drop a
widget and rebuild it later from its record.
"""

from __future__ import annotations

import io
import json
from typing import Any, ClassVar

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text
from textual.selection import Selection
from textual.widgets import Static

from tui.records import (
    NoteRecord,
    Record,
    StepRecord,
    TextRecord,
    ThinkingRecord,
    ToolRecord,
    UserRecord,
)
from tui.step_records import SubagentRecord, VerifyRecord
from tui.widgets.diff import render_unified

OUTPUT_PREVIEW_LINES = 12
DIFF_PREVIEW_LINES = 40
CODE_THEME = "monokai"


def summarize_arguments(arguments: dict[str, Any] | str, width: int = 90) -> str:
    """One line for a card header: the path or command first, the rest abbreviated."""
    if isinstance(arguments, str):
        text = arguments
    else:
        lead = next(
            (str(arguments[k]) for k in ("path", "command", "pattern", "description")
             if k in arguments), None
        )
        rest = {
            k: v
            for k, v in arguments.items()
            if k not in ("path", "command", "pattern", "content", "old_string", "new_string",
                         "description", "prompt")
        }
        text = lead or ""
        if rest:
            text += (" " if text else "") + json.dumps(rest, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# -- widgets -------------------------------------------------------------------------------


def _bounded(text: str, lines: int) -> Text:
    parts = text.rstrip("\n").splitlines()
    shown = "\n".join(parts[:lines])
    out = Text(shown)
    if len(parts) > lines:
        out.append(f"\n… {len(parts) - lines} more lines", style="dim italic")
    return out


class Entry(Static):
    """One transcript entry; `render_record` builds what it shows."""

    record: Record

    def __init__(self, record: Record) -> None:
        super().__init__(classes=f"entry {record.kind}")
        self.record = record
        self.sync()

    def sync(self) -> None:
        self.update(self.render_record())

    def render_record(self) -> RenderableType:
        raise NotImplementedError

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text. Textual extracts it from Text only; an entry also shows
        Markdown and groups, so the text is taken from the lines as drawn, where the
        selection's rows and columns point."""
        width = max(1, self.content_region.width)
        console = Console(width=width, file=io.StringIO(), color_system=None, emoji=False)
        lines = console.render_lines(self.render_record(), console.options, pad=False)
        drawn = "\n".join("".join(seg.text for seg in line).rstrip() for line in lines)
        return selection.extract(drawn), "\n"


class UserEntry(Entry):
    record: UserRecord

    def render_record(self) -> RenderableType:
        text = Text.assemble(("› ", "bold cyan"), self.record.text)
        for chip in self.record.images:
            text.append("\n  ")
            text.append(f" 📎 {chip.label()} ", style="bold on #2a3550")
        return text


class NoteEntry(Entry):
    record: NoteRecord

    def __init__(self, record: NoteRecord) -> None:
        super().__init__(record)
        self.add_class(f"level-{record.level}")

    def render_record(self) -> RenderableType:
        return Text(self.record.text)


class StepEntry(Entry):
    record: StepRecord

    def render_record(self) -> RenderableType:
        r = self.record
        label = Text.assemble(
            (f"step {r.step}", "bold"),
            " · effort ",
            (r.effort, "bold magenta" if r.effort == "high" else "bold cyan"),
        )
        if r.budget is not None:
            label.append(f" · thinking budget {r.budget}", style="magenta")
        if r.switched:
            label.append(f" (switched; re-reads {r.reread_tokens} tokens)", style="yellow")
        label.append(f" — {r.reason}", style="dim")
        return label


class ThinkingEntry(Entry):
    """Reasoning, shown live while it streams, folded to one line once the step moves on;
    a click unfolds it."""

    record: ThinkingRecord
    LIVE_TAIL_LINES: ClassVar[int] = 6

    def render_record(self) -> RenderableType:
        r = self.record
        words = len(r.text.split())
        if r.live:
            tail = "\n".join(r.text.rstrip().splitlines()[-self.LIVE_TAIL_LINES :])
            return Group(Text("▼ thinking…", style="italic"), Text(tail, style="dim italic"))
        if r.expanded:
            return Group(
                Text(f"▼ thought ({words} words)", style="italic"),
                Text(r.text.strip(), style="dim italic"),
            )
        return Text(f"▶ thought ({words} words) — click to unfold", style="dim italic")

    def on_click(self) -> None:
        if not self.record.live:
            self.record.expanded = not self.record.expanded
            self.sync()


class TextEntry(Entry):
    """The model's answer as Markdown, with code highlighted; re-rendered as it streams."""

    record: TextRecord

    def render_record(self) -> RenderableType:
        body = Markdown(self.record.text or " ", code_theme=CODE_THEME)
        if self.record.stopped:
            return Group(body, Text("■ stopped", style="yellow italic"))
        return body


STATUS_STYLE = {
    "pending": ("…", "dim"),
    "asking": ("?", "bold yellow"),
    "running": ("⋯", "cyan"),
    "ok": ("✓", "bold green"),
    "failed": ("✗", "bold red"),
    "denied": ("⊘", "bold red"),
}


class ToolEntry(Entry):
    """A tool call: header with status, then arguments, bounded output and, for edits,
    the diff. Edits show their diff by default; other calls unfold on click."""

    record: ToolRecord

    def render_record(self) -> RenderableType:
        r = self.record
        icon, style = STATUS_STYLE.get(r.status, ("?", ""))
        header = Text.assemble(
            (f"{icon} ", style), (r.name, "bold"), " ", (summarize_arguments(r.arguments), "dim")
        )
        parts: list[RenderableType] = [header]
        if r.approval_note:
            parts.append(Text(r.approval_note, style="yellow" if r.status != "denied" else "red"))
        if r.expanded:
            args = (
                r.arguments
                if isinstance(r.arguments, str)
                else json.dumps(r.arguments, indent=2, ensure_ascii=False)
            )
            parts.append(Text("arguments:", style="dim"))
            parts.append(_bounded(args, OUTPUT_PREVIEW_LINES))
        # While asking, the approval panel shows the diff; the card does not repeat it.
        if r.diff and r.status in ("ok", "running", "pending"):
            parts.append(render_unified(r.diff, None if r.expanded else DIFF_PREVIEW_LINES))
        repeats_note = r.output.strip() == r.approval_note.strip()
        if (
            r.output
            and not repeats_note
            and (r.expanded or r.status in ("failed", "denied") or not r.diff)
        ):
            limit = OUTPUT_PREVIEW_LINES * 4 if r.expanded else OUTPUT_PREVIEW_LINES // 2
            # An edit's result text ends with the diff shown above; not twice.
            shown = r.output.removesuffix(r.diff).rstrip("\n") if r.diff else r.output
            parts.append(_bounded(shown, limit))
        return Group(*parts)

    def sync(self) -> None:
        super().sync()
        self.set_class(self.record.status in ("failed", "denied"), "-failed")

    def on_click(self) -> None:
        self.record.expanded = not self.record.expanded
        self.sync()


FINISH_STYLE = {"done": ("✓", "bold green"), "running": ("⋯", "cyan")}


class SubagentEntry(Entry):
    """A subagent's run under its `task` call: one folded line until clicked, then its
    calls."""

    record: SubagentRecord

    def render_record(self) -> RenderableType:
        r = self.record
        icon, style = FINISH_STYLE.get(r.status, ("✗", "bold red"))
        fold = "▼" if r.expanded else "▶"
        header = Text.assemble(
            (f"{fold} ", "dim"), (f"{icon} ", style), ("subagent ", "bold"),
            (r.description, "italic"), (f" — {r.summary()}", "dim"),
        )
        if r.status not in ("running", "done"):
            header.append(f" · {r.status}", style="red")
        if not r.expanded:
            header.append(" — click to unfold", style="dim italic")
            return header
        parts: list[RenderableType] = [header]
        for call in r.calls.values():
            mark, mark_style = STATUS_STYLE.get(call.status, ("?", ""))
            parts.append(Text.assemble(("    ", ""), (f"{mark} ", mark_style),
                                       (call.name, "bold"), " ",
                                       (summarize_arguments(call.arguments, 80), "dim")))
        return Group(*parts)  # its answer is the `task` card's result, shown there

    def on_click(self) -> None:
        self.record.expanded = not self.record.expanded
        self.sync()


class VerifyEntry(Entry):
    """A verify check: one line when it passed, the end of its output when it failed."""

    record: VerifyRecord

    def render_record(self) -> RenderableType:
        r = self.record
        outcome = "passed" if r.ok else ("killed" if r.exit_code is None
                                         else f"failed, exit {r.exit_code}")
        header = Text.assemble(
            ("✓ " if r.ok else "✗ ", "bold green" if r.ok else "bold red"),
            ("verify ", "bold"), (r.command, ""), (f" — {outcome} in {r.duration_s:.1f} s",
                                                   "dim"),
        )
        if r.ok and not r.expanded:
            return header
        tail = r.output_tail if r.expanded else "\n".join(
            r.output_tail.splitlines()[-OUTPUT_PREVIEW_LINES:])
        return Group(header, _bounded(tail, OUTPUT_PREVIEW_LINES * 4))

    def sync(self) -> None:
        super().sync()
        self.set_class(not self.record.ok, "-failed")

    def on_click(self) -> None:
        self.record.expanded = not self.record.expanded
        self.sync()


ENTRY_TYPES: dict[str, type[Entry]] = {
    "user": UserEntry,
    "note": NoteEntry,
    "step": StepEntry,
    "thinking": ThinkingEntry,
    "text": TextEntry,
    "tool": ToolEntry,
    "subagent": SubagentEntry,
    "verify": VerifyEntry,
}


def make_entry(record: Record) -> Entry:
    return ENTRY_TYPES[record.kind](record)
