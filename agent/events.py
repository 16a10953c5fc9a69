"""The one event type: what a session says happened, in order.

Every front end (the TUI, `tessera run --json`, the session store) consumes the same
stream of these. Each event is a small dataclass that serialises to one JSON object on
one line; `type` names the kind. The set is closed: `EVENT_TYPES` lists every kind, and
`from_json` refuses anything else. The schema is documented in docs/events.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


class EventDecodeError(ValueError):
    """A JSON line that is not one of our events."""


@dataclass
class Event:
    type: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def from_json(line: str) -> Event:
        """Decode any event line (the kind comes from its `type`)."""
        return from_json(line)


@dataclass
class SessionStart(Event):
    """The first event of a session: what was asked, where, and under which settings."""

    type: ClassVar[str] = "session_start"
    session_id: str
    task: str
    repo: str
    backend: str
    effort: str
    approval: str
    # The system prompt exactly as sent, so a resumed session keeps the same cached prefix.
    system_prompt: str = ""
    instruction_files: list[str] = field(default_factory=list)
    # Images attached to the task: tools/images.StoredImage fields (sha256, path, width,
    # height, tokens, source_format), stored by content hash.
    images: list[dict[str, Any]] = field(default_factory=list)
    # A run in its own git worktree (agent/worktree_runs.py): path, branch, base (the
    # start-point commit), origin, common_dir, head, notes; None for one in the user's tree.
    worktree: dict[str, Any] | None = None


@dataclass
class UserMessage(Event):
    """A later user turn; `origin` is "agent" for notes the loop itself sends the model
    (e.g. that its output could not be parsed)."""

    type: ClassVar[str] = "user_message"
    text: str
    origin: str = "user"
    images: list[dict[str, Any]] = field(default_factory=list)  # as in SessionStart


@dataclass
class SettingsChange(Event):
    """The user changed a setting mid-session (`/model`, `/effort`, an editor's mode):
    from the next step on the session runs with it, and a resumed session continues with
    the latest values. A field is None when that setting did not change."""

    type: ClassVar[str] = "settings_change"
    backend: str | None = None  # a backend spec, as in SessionStart
    effort: str | None = None  # none, high or auto
    approval: str | None = None  # read-only, ask, auto-edit or auto


@dataclass
class Effort(Event):
    """The reasoning effort chosen for a step, and why."""

    type: ClassVar[str] = "effort"
    step: int
    value: str  # "none" or "high"
    reason: str
    switched: bool = False
    # Tokens the engine must re-read because of this switch (0 when unchanged).
    reread_tokens: int = 0
    # Thinking tokens the step may spend before the engine ends its thinking (None: no
    # budget; the settings alone decide).
    budget: int | None = None


@dataclass
class Thinking(Event):
    type: ClassVar[str] = "thinking"
    step: int
    text: str


@dataclass
class Text(Event):
    type: ClassVar[str] = "text"
    step: int
    text: str


@dataclass
class ToolCall(Event):
    """A call the model made. `arguments` is the parsed object, or the raw string when it
    was not valid JSON (the malformed call then gets an error result)."""

    type: ClassVar[str] = "tool_call"
    step: int
    id: str
    name: str
    arguments: dict[str, Any] | str


@dataclass
class Approval(Event):
    """The approval policy's verdict on a call. A "requested" approval carries the tool's
    own `preview` of what the call would change (for file tools the shape of their
    result `data`, docs/events.md), worked out without changing anything."""

    type: ClassVar[str] = "approval"
    call_id: str
    name: str
    decision: str  # "requested", "granted" or "denied"
    reason: str = ""
    preview: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolResult(Event):
    """What the model is told about a call: `output` is exactly the appended text."""

    type: ClassVar[str] = "tool_result"
    step: int
    call_id: str
    name: str
    ok: bool
    output: str
    # What view_image/screenshot returned for the model to see (as in SessionStart).
    images: list[dict[str, Any]] = field(default_factory=list)
    # The tool's structured result for front ends (an edit's diff, a command's exit code),
    # bounded: long strings are cut at a line end and flagged (agent/calls.py).
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class NetworkAccess(Event):
    """A connection the sandbox's allow-list proxy allowed or refused (docs/sandbox.md):
    one per connection a command tried, reported with the next tool result."""

    type: ClassVar[str] = "network_access"
    allowed: bool
    method: str  # "CONNECT" (HTTPS, tunnels) or the method of a plain-HTTP request
    host: str
    port: int
    reason: str
    address: str | None = None  # the address connected to, when allowed
    entry: str | None = None  # the sandbox.allow_domains entry that let it through
    step: int | None = None


@dataclass
class Checkpoint(Event):
    """A git checkpoint taken before the first change of a step."""

    type: ClassVar[str] = "checkpoint"
    step: int
    ref: str
    label: str


@dataclass
class Usage(Event):
    """Token counts of one model step, as the backend reported them."""

    type: ClassVar[str] = "usage"
    step: int
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int
    finish_reason: str = ""


@dataclass
class RawOutput(Event):
    """Exactly what the model emitted in a step: what `replay:FILE` feeds back."""

    type: ClassVar[str] = "raw_output"
    step: int
    raw: str


@dataclass
class Compaction(Event):
    """Older turns replaced by the model's own summary (see agent/compaction.py). The
    history becomes: the task, the summary, the last `kept` messages."""

    type: ClassVar[str] = "compaction"
    step: int
    summary: str
    kept: int
    dropped: int
    context_tokens: int  # before compacting
    raw: str = ""  # the summary turn as the model emitted it (replay consumes it)
    reason: str = "auto"  # "auto": near the context limit; "user": asked for (/compact)


@dataclass
class Finding(Event):
    """A review finding (`tessera review`), checked against the diff: `line` is on the
    new side (the old side for a deleted file); `in_hunk` is false for a line of the file
    outside every changed hunk."""

    type: ClassVar[str] = "finding"
    file: str
    line: int
    severity: str  # "error", "warning" or "info"
    message: str
    suggestion: str | None = None
    in_hunk: bool = True


@dataclass
class Todo(Event):
    """The model's todo list as it set it last (the `todo_write` tool, or an approved
    plan): the whole list, each item `{"content", "status"}` with status pending,
    in_progress or done (at most one in_progress). Kept verbatim through compaction."""

    type: ClassVar[str] = "todo"
    items: list[dict[str, str]]
    step: int | None = None  # the step whose call set it; None for an approved plan


@dataclass
class Plan(Event):
    """The plan a plan-mode run ended with (the `exit_plan` tool, or its final answer):
    `text` as the model wrote it, `steps` its numbered or bulleted items."""

    type: ClassVar[str] = "plan"
    text: str
    steps: list[str] = field(default_factory=list)


@dataclass
class PlanDecision(Event):
    """What the user did with a plan: "approved" (the session goes on with `approval` as
    its policy, `text` as approved, possibly edited, and its steps as the todo list) or
    "rejected" (plan mode stays on)."""

    type: ClassVar[str] = "plan_decision"
    decision: str
    text: str = ""
    approval: str | None = None


@dataclass
class Subagent(Event):
    """An event of a subagent (the `task` tool, agent/subagents.py), stored in its parent's
    session under the parent's call id: `event` is the child's event as a dict (its own
    `type`, its own step numbers). The parent's history never includes it: a child works in
    its own context and only its answer (the call's `tool_result`) reaches the parent."""

    type: ClassVar[str] = "subagent"
    call_id: str
    event: dict[str, Any]

    def inner(self) -> Event:
        """The child's event (raises EventDecodeError when it is not one of ours)."""
        return from_dict(self.event)


@dataclass
class Verify(Event):
    """One configured check (`[verify] commands`) run in the sandbox after a step that
    changed files (agent/verify.py); a failure is the model's next message."""

    type: ClassVar[str] = "verify"
    step: int
    command: str  # as run: {files} replaced by the changed paths, shell-quoted
    ok: bool
    exit_code: int | None  # None: killed (time or memory limit)
    output_tail: str  # the last lines of its combined output
    duration_s: float
    files: list[str] = field(default_factory=list)  # the changed paths it checked


@dataclass
class VerifySuggestion(Event):
    """No `[verify] commands` are configured, yet the repository declares checks: said
    once per repository, at the first step that changes files; nothing is run."""

    type: ClassVar[str] = "verify_suggestion"
    commands: list[str]
    sources: list[str]  # the files that declare them (pyproject.toml, package.json, Makefile)


@dataclass
class Hook(Event):
    """One run of a user's hook command (agent/hooks.py, docs/hooks.md): which `event`
    (PreToolUse, UserPromptSubmit, ...) and `tool` (or ""), its `exit_code` (None when it
    never exited: a timeout, a missing shell), and what came of it: `decision` is
    continue, context, rewrite, block (exit 2 or a JSON decision), fail-closed (a guard
    that failed blocks) or failed (a failure that blocks nothing); `reason` says why."""

    type: ClassVar[str] = "hook"
    event: str
    command: str
    exit_code: int | None
    duration_s: float
    decision: str
    reason: str = ""
    tool: str = ""


@dataclass
class EngineServing(Event):
    """Which code serves the MoE layers of the engine behind the session's backend, when
    that changes: once the local engine is reached (after its self-check before
    serving), again if a later turn finds another answer (an engine restarted, a switch
    to a backend that says nothing: `moe` empty). Each entry of `moe` is
    {"path", "label", "self_check"} (model.vllm_plugin.counter.MoeServing)."""

    type: ClassVar[str] = "engine_serving"
    backend: str
    moe: list[dict[str, str]] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        """Whether a failed self-check switched the engine to a fallback."""
        return any(entry.get("self_check", "").startswith("failed") for entry in self.moe)

    def lines(self) -> list[str]:
        """Each entry as `tessera engine status` says it: PATH (self-check VERDICT)."""
        return [f"{entry.get('path', '?')} (self-check {entry.get('self_check', 'not run')})"
                for entry in self.moe]


@dataclass
class Error(Event):
    type: ClassVar[str] = "error"
    message: str
    step: int | None = None
    fatal: bool = False


@dataclass
class Finish(Event):
    """The last event. status: done (the model answered), budget (a budget ended the
    run), stuck (the model kept repeating itself), error, or cancelled."""

    type: ClassVar[str] = "finish"
    status: str
    summary: str
    steps: int = 0


FINISH_STATUSES = ("done", "budget", "stuck", "error", "cancelled")

EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        SessionStart,
        UserMessage,
        SettingsChange,
        Effort,
        Thinking,
        Text,
        ToolCall,
        Approval,
        ToolResult,
        NetworkAccess,
        Checkpoint,
        Usage,
        RawOutput,
        Compaction,
        Finding,
        Todo,
        Plan,
        PlanDecision,
        Subagent,
        Verify,
        VerifySuggestion,
        Hook,
        EngineServing,
        Error,
        Finish,
    )
}


def from_dict(data: dict[str, Any]) -> Event:
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventDecodeError(f"unknown event type {kind!r}")
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names - {"type"}
    if unknown:
        raise EventDecodeError(f"{kind}: unknown fields {sorted(unknown)}")
    try:
        return cls(**{k: v for k, v in data.items() if k != "type"})
    except TypeError as exc:
        raise EventDecodeError(f"{kind}: {exc}") from exc


def from_json(line: str) -> Event:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventDecodeError(f"not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise EventDecodeError("an event is a JSON object")
    return from_dict(data)
