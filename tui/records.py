"""What the transcript shows, as plain records, and how events and live deltas make them.

`TranscriptBuilder` is the one mapping from the agent's event stream (and the backend's
live deltas) to transcript records. The chat screen feeds it live; a resumed session is
fed through it from the store; the benchmark feeds it synthetic sessions. No Textual
import here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agent import events as ev
from agent.backend import Delta, TextDelta, ThinkingDelta, ToolCallDelta
from tui.record import Record  # the base, shared with tui/step_records.py
from tui.step_records import SubagentRecord, VerifyRecord


@dataclass(frozen=True)
class ImageChip:
    """An attached image as the transcript shows it: name, size and token cost."""

    name: str
    width: int
    height: int
    size_bytes: int | None  # of the stored PNG; None when it is gone
    tokens: int

    @classmethod
    def of(cls, image: dict[str, Any], name: str | None = None) -> ImageChip:
        """From a stored image's description (the `images` of a message event)."""
        stored = Path(str(image.get("path", "")))
        try:
            size: int | None = stored.stat().st_size
        except OSError:
            size = None
        return cls(
            name or f"image {str(image.get('sha256', ''))[:12]}",
            int(image.get("width", 0)),
            int(image.get("height", 0)),
            size,
            int(image.get("tokens", 0)),
        )

    def label(self) -> str:
        size = "" if self.size_bytes is None else f" · {_human_bytes(self.size_bytes)}"
        return f"{self.name} · {self.width}×{self.height}{size} · {self.tokens:,} tokens"


def _human_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


@dataclass(eq=False)
class UserRecord(Record):
    kind: ClassVar[str] = "user"
    text: str
    images: list[ImageChip] = field(default_factory=list)


@dataclass(eq=False)
class NoteRecord(Record):
    kind: ClassVar[str] = "note"
    text: str
    level: str = "info"  # info | warning | error


@dataclass(eq=False)
class StepRecord(Record):
    """The effort of a step, and why."""

    kind: ClassVar[str] = "step"
    step: int
    effort: str
    reason: str
    switched: bool = False
    reread_tokens: int = 0
    budget: int | None = None  # the step's thinking budget (None: none)


@dataclass(eq=False)
class ThinkingRecord(Record):
    kind: ClassVar[str] = "thinking"
    step: int
    text: str = ""
    live: bool = True
    expanded: bool = False


@dataclass(eq=False)
class TextRecord(Record):
    kind: ClassVar[str] = "text"
    step: int
    text: str = ""
    live: bool = True
    stopped: bool = False


@dataclass(eq=False)
class ToolRecord(Record):
    kind: ClassVar[str] = "tool"
    call_id: str
    name: str
    arguments: dict[str, Any] | str
    status: str = "running"  # pending | asking | running | ok | failed | denied
    output: str = ""
    # The unified diff of a file change: the tool's preview while it asks for approval,
    # then what the result's data says was done (both come with the events).
    diff: str | None = None
    # The tool's own preview of the call (`Approval.preview`), while it asks.
    preview: dict[str, Any] = field(default_factory=dict)
    approval_note: str = ""
    expanded: bool = False


FINISH_NOTES = {
    "budget": ("warning", "stopped: {summary}"),
    "stuck": ("warning", "stopped, the model was stuck: {summary}"),
    "error": ("error", "the session failed: {summary}"),
    "cancelled": (
        "warning",
        "stopped by you; everything shown is kept — send a message to continue",
    ),
}


# How loudly a hook run is shown: a block, and a guard that failed, are what users must see.
HOOK_LEVELS = {"block": "error", "fail-closed": "error", "failed": "warning"}
HOOK_VERDICTS = {
    "continue": "went on", "context": "added context for the model",
    "rewrite": "rewrote the call's arguments (the approval rules judged the new ones)",
    "block": "BLOCKED it", "fail-closed": "FAILED, so it was blocked (a guard fails closed)",
    "failed": "failed; nothing was blocked",
}


def hook_note(event: ev.Hook) -> str:
    """One line for a hook run: which hook, on what, what came of it and why."""
    target = f" on {event.tool}" if event.tool else ""
    code = "no exit" if event.exit_code is None else f"exit {event.exit_code}"
    verdict = HOOK_VERDICTS.get(event.decision, event.decision)
    why = f": {event.reason}" if event.reason else ""
    return (f"hook {event.event}{target} `{event.command}` ({code}, {event.duration_s:.2f} s) "
            f"{verdict}{why}")


class TranscriptBuilder:
    """Turns events and deltas into records. `add` receives each finished record, `touch`
    each added record whose content changed later (a tool card's status).

    Streaming text and thinking are not transcript records while they stream: they live in
    `live_thinking`/`live_text` (the screen shows them in a fixed-height live area, so a
    fast stream repaints a few lines instead of re-laying out the transcript) and join
    the transcript when the step's final `thinking`/`text` event arrives, or on a stop.
    `on_live` is called whenever the live pair changes."""

    def __init__(
        self,
        add: Callable[[Record], None],
        touch: Callable[[Record], None],
        on_live: Callable[[], None] | None = None,
    ) -> None:
        self._add = add
        self._touch = touch
        self._on_live = on_live or (lambda: None)
        self.step = 0
        self.live_thinking: ThinkingRecord | None = None
        self.live_text: TextRecord | None = None
        self.tools: dict[str, ToolRecord] = {}
        self.subagents: dict[str, SubagentRecord] = {}  # by the parent's call id
        self.user_echoed = False  # the screen showed the user's message when it was sent
        # The step the user stopped: its partial answer is on screen already, marked, when
        # the loop records it as thinking and text events.
        self.stopped_step: int | None = None

    # -- live deltas -----------------------------------------------------------------

    def delta(self, delta: Delta) -> None:
        match delta:
            case ThinkingDelta(text=text) if text:
                if self.live_thinking is None:
                    self.live_thinking = ThinkingRecord(self.step)
                self.live_thinking.text += text
                self._on_live()
            case TextDelta(text=text) if text:
                if self.live_text is None:
                    self.live_text = TextRecord(self.step)
                if self.live_thinking is not None:
                    self.live_thinking.live = False  # folds once the answer starts
                self.live_text.text += text
                self._on_live()
            case ToolCallDelta():
                if self.live_thinking is not None and self.live_thinking.live:
                    self.live_thinking.live = False
                    self._on_live()
            case _:
                pass

    def _settle_live(self, stopped: bool = False) -> None:
        """Move whatever is still live into the transcript."""
        if self.live_thinking is not None:
            self.live_thinking.live = False
            self._add(self.live_thinking)
        if self.live_text is not None:
            self.live_text.live = False
            self.live_text.stopped = stopped
            self._add(self.live_text)
        if self.live_thinking is not None or self.live_text is not None:
            self.live_thinking = self.live_text = None
            self._on_live()

    def _drop_live(self) -> None:
        if self.live_thinking is not None or self.live_text is not None:
            self.live_thinking = self.live_text = None
            self._on_live()

    def stop(self) -> None:
        """The user stopped the generation: what streamed so far stays, marked."""
        self.stopped_step = self.step
        self._settle_live(stopped=True)
        for record in self.tools.values():
            if record.status == "asking":
                record.status = "denied"
                self._touch(record)

    # -- events ----------------------------------------------------------------------

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Thinking | ev.Text) and event.step == self.stopped_step:
            return  # shown while it streamed, marked as stopped
        match event:
            case ev.SessionStart(task=task, images=images):
                if not self.user_echoed:
                    self._add(UserRecord(task, [ImageChip.of(i) for i in images]))
                self.user_echoed = False
            case ev.UserMessage(text=text, origin=origin, images=images):
                if origin == "agent":
                    self._add(NoteRecord(f"note to the model: {text}", "warning"))
                elif origin == "hook":
                    self._add(NoteRecord(f"a hook tells the model: {text}", "dim"))
                elif not self.user_echoed:
                    self._add(UserRecord(text, [ImageChip.of(i) for i in images]))
                self.user_echoed = False
            case ev.Effort(
                step=step, value=value, reason=reason, switched=switched, reread_tokens=reread,
                budget=budget,
            ):
                self._settle_live()
                self.step = step
                self._add(StepRecord(step, value, reason, switched, reread, budget))
            case ev.Thinking(step=step, text=text):
                record = self.live_thinking or ThinkingRecord(step)
                record.text, record.live = text, False
                self.live_thinking = None
                self._add(record)
                self._on_live()
            case ev.Text(step=step, text=text):
                if self.live_thinking is not None:  # a text event closes the thinking too
                    self.live_thinking.live = False
                    self._add(self.live_thinking)
                    self.live_thinking = None
                record = self.live_text or TextRecord(step)
                record.text, record.live = text, False
                self.live_text = None
                self._add(record)
                self._on_live()
            case ev.ToolCall(id=call_id, name=name, arguments=arguments):
                self._settle_live()
                record = ToolRecord(call_id, name, arguments, status="pending")
                self.tools[call_id] = record
                self._add(record)
            case ev.Approval(call_id=call_id, decision=decision, reason=reason, preview=preview):
                self._approval(call_id, decision, reason, preview)
            case ev.Checkpoint(ref=ref, label=label):
                self._add(NoteRecord(f"checkpoint {ref} taken {label} — /undo restores it", "dim"))
            case ev.NetworkAccess(allowed=allowed, method=method, host=host, port=port,
                                  reason=reason):
                verdict = "network: allowed" if allowed else "network: refused"
                self._add(NoteRecord(f"{verdict} {method} {host}:{port} ({reason})",
                                     "dim" if allowed else "warning"))
            case ev.ToolResult(call_id=call_id, name=name, ok=ok, output=output, data=data):
                self._result(call_id, name, ok, output, data)
            case ev.Hook():
                self._add(NoteRecord(hook_note(event), HOOK_LEVELS.get(event.decision, "dim")))
            case ev.EngineServing(backend=backend) if event.fell_back:
                self._add(NoteRecord(
                    f"⚠ {backend}: our kernels failed the engine's self-check before serving; "
                    "its MoE layers are served by " + "; ".join(event.lines()) + ". "
                    "`tessera engine status` and `tessera engine logs` say more.", "warning"))
            case ev.Error(message=message, fatal=fatal):
                self._add(NoteRecord(("error: " if fatal else "problem: ") + message, "error"))
            case ev.Compaction(summary=summary, kept=kept, dropped=dropped, reason=reason):
                self._drop_live()  # the summary streamed live; it is shown in the note
                why = "on request" if reason == "user" else "near the context limit"
                self._add(NoteRecord(
                    f"context compacted {why}: {dropped} older message(s) replaced by the "
                    f"model's summary; the task, the instructions and the last {kept} "
                    f"message(s) stay as they were.\n\n{summary}", "dim"))
            case ev.Plan(steps=steps):
                self._add(NoteRecord(f"plan ready ({len(steps)} step(s)): nothing has "
                                     "changed; approve, edit or reject it"))
            case ev.PlanDecision(decision=decision, approval=approval):
                policy = f", carried out with approval {approval}" if approval else ""
                self._add(NoteRecord(f"plan {decision}{policy}", "dim"))
            case ev.Subagent(call_id=call_id, event=inner):
                self._subagent(call_id, inner)
            case ev.Verify() | ev.VerifySuggestion():
                self._verify(event)
            case ev.Finish(status=status, summary=summary):
                self._settle_live(stopped=status == "cancelled")
                if status in FINISH_NOTES:
                    level, template = FINISH_NOTES[status]
                    self._add(NoteRecord(template.format(summary=summary), level))
                    if status == "cancelled":
                        self.stop()
            case _:
                pass

    def _subagent(self, call_id: str, inner: dict[str, Any]) -> None:
        """A child's event: folded into one record, added after its `task` call's card."""
        record = self.subagents.get(call_id)
        if record is None:
            call = self.tools.get(call_id)
            arguments = call.arguments if call is not None else {}
            description = (arguments.get("description") if isinstance(arguments, dict)
                           else None) or "subagent"
            record = SubagentRecord(call_id, str(description))
            self.subagents[call_id] = record
            self._add(record)
        record.apply(inner)
        self._touch(record)

    def _verify(self, event: ev.Verify | ev.VerifySuggestion) -> None:
        if isinstance(event, ev.VerifySuggestion):
            self._add(NoteRecord(
                f"no [verify] commands are configured; {', '.join(event.sources)} suggest "
                f"{', '.join(event.commands)}. Nothing was run: add them to "
                ".tessera/config.toml under [verify] commands to check every change.", "dim"))
            return
        self._add(VerifyRecord(event.step, event.command, event.ok, event.exit_code,
                               event.output_tail, event.duration_s))

    def _approval(
        self, call_id: str, decision: str, reason: str, preview: dict[str, Any]
    ) -> None:
        record = self.tools.get(call_id)
        if record is None:
            return
        if decision == "requested":
            record.status, record.approval_note = "asking", f"asks: {reason}"
            record.preview = preview
            record.diff = preview.get("diff") or None
        elif decision == "granted":
            record.status = "running"
            record.approval_note = reason if "user" in reason else ""
        else:
            record.status, record.approval_note = "denied", reason
        self._touch(record)

    def _result(
        self, call_id: str, name: str, ok: bool, output: str, data: dict[str, Any]
    ) -> None:
        record = self.tools.get(call_id)
        if record is None:
            record = ToolRecord(call_id, name, "", status="pending")
            self.tools[call_id] = record
            self._add(record)
        if record.status != "denied":
            record.status = "ok" if ok else "failed"
            if ok:
                record.diff = data.get("diff") or None
        record.output = output
        self._touch(record)
