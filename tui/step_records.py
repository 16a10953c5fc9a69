"""Transcript records of what runs beside the model's own calls: a subagent's run (the
`task` tool, folded under its call) and the verify checks after a step. Built from the
`subagent`, `verify` and `verify_suggestion` events by tui.records.TranscriptBuilder.
No Textual import here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from tui.record import Record


@dataclass
class ChildCall:
    name: str
    arguments: dict[str, Any] | str
    status: str = "running"  # running | ok | failed | denied


@dataclass(eq=False)
class SubagentRecord(Record):
    """A subagent's run, folded to one line (what it does, its steps and calls, how it
    ended) until clicked; unfolded it lists its calls."""

    kind: ClassVar[str] = "subagent"
    call_id: str
    description: str
    status: str = "running"  # running, then the child's finish status
    steps: int = 0
    tokens: int = 0
    calls: dict[str, ChildCall] = field(default_factory=dict)  # by the child's call id
    answer: str = ""
    expanded: bool = False

    def apply(self, inner: dict[str, Any]) -> None:
        """Take in one of the child's events (as stored: a dict with its `type`)."""
        match inner.get("type"):
            case "effort":
                self.steps = max(self.steps, int(inner.get("step", 0)))
            case "usage":
                self.tokens += (int(inner.get("prompt_tokens", 0))
                                - int(inner.get("cached_prompt_tokens", 0))
                                + int(inner.get("completion_tokens", 0)))
            case "tool_call":
                arguments = inner.get("arguments")
                self.calls[str(inner.get("id"))] = ChildCall(
                    str(inner.get("name")), arguments if isinstance(arguments, dict | str)
                    else "")
            case "approval" if inner.get("decision") == "denied":
                if (call := self.calls.get(str(inner.get("call_id")))) is not None:
                    call.status = "denied"
            case "tool_result":
                call = self.calls.get(str(inner.get("call_id")))
                if call is not None and call.status != "denied":
                    call.status = "ok" if inner.get("ok") else "failed"
            case "finish":
                self.status = str(inner.get("status"))
                self.steps = int(inner.get("steps", self.steps))
                self.answer = str(inner.get("summary", ""))
            case _:
                pass

    def summary(self) -> str:
        calls = len(self.calls)
        failed = sum(1 for c in self.calls.values() if c.status in ("failed", "denied"))
        parts = [f"{self.steps} step(s)", f"{calls} call(s)" + (f", {failed} failed"
                                                                if failed else "")]
        if self.tokens:
            parts.append(f"{self.tokens:,} tokens")
        return " · ".join(parts)


@dataclass(eq=False)
class VerifyRecord(Record):
    """One verify check; a failed one shows the end of its output."""

    kind: ClassVar[str] = "verify"
    step: int
    command: str
    ok: bool
    exit_code: int | None
    output_tail: str
    duration_s: float
    expanded: bool = False
