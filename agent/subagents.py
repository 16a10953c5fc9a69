"""The `task` tool: a subagent that works in its own, fresh context and reports back.

The parent model delegates a self-contained job (explore how X works, find every caller
of Y) to a child session on the same backend. The child is a `SessionDriver` with the
`subagent` profile: read-only tools unless the call names others, the parent's approval
policy (never looser), its own budgets (`SubagentBudget`) and no `task` tool of its own.
Its events are not a session of their own: each is wrapped in a `subagent` event with the
parent call's id and stored in the parent's session (docs/events.md), where the parent's
history ignores them; only the child's final answer, bounded, is the call's result.

Several read-only `task` calls of one step run concurrently (agent/calls.py batches
reads). A call that gives the child writing tools is itself a write: approved as one and
run alone. Cancelling the parent's run cancels its children; each records a `finish`
with status `cancelled` before the parent's run ends.

A replay backend scripts a child's turns: lines of the replay file tagged with
`"subagent": CALL_ID` are that child's turns, in order (agent/replay.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field

from agent import events as ev
from agent.agent_tool import AgentTool
from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.output import bound_text

if TYPE_CHECKING:
    from agent.backend import Backend
    from agent.loop import AgentLoop
    from agent.sessions import SessionStore

SUBAGENT_INSTRUCTIONS = (
    "You are a subagent: another agent gave you the task above and sees nothing of your "
    "work but your final answer. Do the task with the tools you have, then answer once, "
    "in plain text without a tool call: what you found (paths, line numbers, names) or "
    "what you did, concisely. Do not ask questions; if something is unclear, decide and "
    "say what you assumed."
)


@dataclass(frozen=True)
class SubagentBudget:
    """What one child may spend; a child that reaches a limit stops and its call fails
    with what it had said so far."""

    max_steps: int = 15
    max_tokens: int | None = 200_000  # engine work: uncached prompt + generated tokens
    answer_bytes: int = 8 * 1024  # of the final answer the parent gets (head and tail kept)


class ChildSession(Protocol):
    loop: AgentLoop | None
    session_id: str | None

    async def start(self, task: str) -> ev.Finish: ...

    def close(self) -> None: ...


class ParentSession(Protocol):
    """What a `task` call needs of the session it runs in: agent.session_driver's
    SessionDriver, which makes this tool (named by its shape, not imported back)."""

    options: Any  # SessionOptions
    profile: Any  # Profile
    loop: AgentLoop | None
    store: SessionStore
    backend_spec: str | None

    def child(self, options: Any, profile: Any, *, backend: Backend,
              publish: Callable[[ev.Event], None]) -> ChildSession: ...


@runtime_checkable
class ScriptsSubagents(Protocol):
    """A backend that serves each child from its own script (the replay backend); any
    other backend serves children as it serves the parent."""

    def for_subagent(self, call_id: str) -> Backend: ...


class TaskArgs(ToolArgs):
    description: str = Field(
        min_length=1, max_length=80,
        description="A few words saying what the subagent does (shown to the user).")
    prompt: str = Field(
        min_length=1,
        description="The whole task. The subagent sees nothing of this conversation: say "
        "what to find or do, where to look, and what to report back.")
    tools: list[str] | None = Field(
        default=None,
        description="The tools it may use (default: the read-only ones). Giving it tools "
        "that write or run commands makes this call a change that is approved as one.")


class TaskTool(Tool):
    name = "task"
    description = (
        "Delegate a self-contained job (explore the code, find where something happens, "
        "summarise a module) to a subagent with its own fresh context; you get only its "
        "final answer, so your own context stays small. Several read-only tasks in one "
        "step run at the same time."
    )
    Args: ClassVar[type[ToolArgs]] = TaskArgs
    side_effect = SideEffect.READ

    def __init__(self, parent: ParentSession, tools: list[Tool],
                 budget: SubagentBudget | None = None) -> None:
        self.parent = parent
        self.budget = budget or SubagentBudget()
        # What a child may be given: the parent's repository tools. The session's own
        # (its todo list, questions to the user, agent/agent_tool.py) stay the parent's.
        self.effects = {t.name: t.side_effect for t in tools
                        if t.name != self.name and not isinstance(t, AgentTool)}

    def side_effect_of(self, args: dict[str, Any]) -> SideEffect:
        effects = {self.effects.get(name) for name in args.get("tools") or []}
        for effect in (SideEffect.EXECUTE, SideEffect.WRITE):
            if effect in effects:
                return effect
        return SideEffect.READ

    def chosen_tools(self, requested: list[str] | None) -> list[str]:
        """The child's tool names; raises ToolError naming what cannot be given."""
        if requested is None:
            return sorted(n for n, effect in self.effects.items() if effect is SideEffect.READ)
        unknown = sorted(set(requested) - set(self.effects))
        if unknown:
            why = ("a subagent cannot start subagents; " if self.name in unknown else "")
            raise ToolError(f"{why}no such tool(s) for a subagent: {', '.join(unknown)}; "
                            f"choose from {', '.join(sorted(self.effects))}")
        return sorted(set(requested))

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        raise ToolError("the task tool runs only inside a session (it awaits a subagent)")

    async def ainvoke(self, raw: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            args = self.parse_args(raw)
            assert isinstance(args, TaskArgs)
            names = self.chosen_tools(args.tools)
        except ToolError as exc:
            return ToolResult.error(str(exc))
        child = self._child(ctx.call_id, names)
        try:
            finish = await child.start(args.prompt)
        finally:
            child.close()
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError  # the parent was stopped: it stops too
        return self._result(finish, child)

    def _child(self, call_id: str, names: list[str]) -> ChildSession:
        parent, loop = self.parent, self.parent.loop
        assert loop is not None, "the task tool runs inside a built session"
        profile = type(parent.profile)(  # the driver's Profile, with its defaults
            name="subagent",
            tools=lambda tools: [t for t in tools if t.name in names],
            checkpoints=any(self.effects[n] is not SideEffect.READ for n in names),
            instructions=SUBAGENT_INSTRUCTIONS,
            subagents=False,
        )
        options = replace(  # the parent's repository, rules, map and context limit
            parent.options, effort=loop.settings.effort.mode,
            approval=loop.settings.approval.mode, max_steps=self.budget.max_steps,
            max_tokens=self.budget.max_tokens, max_wall_s=None, resume=None,
            verify=False,  # the parent checks the step that ran this call
        )

        def publish(event: ev.Event) -> None:
            loop.emit(ev.Subagent(call_id, event.to_dict()))

        return parent.child(options, profile, backend=self._backend(call_id), publish=publish)

    def _backend(self, call_id: str) -> Backend:
        """The child's own client of the parent's backend (a stream's cancel state is per
        client), or its own script on a replay."""
        from agent.backend import BackendError
        from agent.backends import make_backend

        loop = self.parent.loop
        assert loop is not None
        if isinstance(loop.backend, ScriptsSubagents):
            return loop.backend.for_subagent(call_id)
        spec = self.parent.backend_spec
        if spec and not spec.startswith("replay:"):
            try:
                return make_backend(spec)
            except BackendError:
                pass  # the parent's own client then serves it too
        return loop.backend

    def _result(self, finish: ev.Finish, child: ChildSession) -> ToolResult:
        loop = child.loop
        steps = finish.steps
        data = {"status": finish.status, "steps": steps,
                "tokens": loop.spent_tokens if loop else 0,
                "session_id": child.session_id}
        if finish.status == "done":
            answer, truncated = bound_text(finish.summary, self.budget.answer_bytes)
            if truncated:
                data["truncated"] = True
            return ToolResult(True, answer or "(the subagent gave an empty answer)", data)
        said = _last_text(loop)
        text = f"the subagent stopped without an answer ({finish.status}): {finish.summary}"
        if said:
            text += "\nIts last words:\n" + bound_text(said, self.budget.answer_bytes // 2)[0]
        return ToolResult(False, text, data)


def _last_text(loop: Any) -> str:
    if loop is None:
        return ""
    for message in reversed(loop.history.messages):
        if message.role == "assistant" and message.content.strip():
            return message.content.strip()
    return ""
