"""From the model's tool calls to results: validate, approve, checkpoint, run.

The loop hands over one step's calls; this module turns each into exactly one
`tool_result` (plus `approval` and `checkpoint` events where they apply), in the order
the model made them. Independent reads that are allowed run in parallel; writes and
commands run one at a time, in order, after a checkpoint taken before the step's first.
A read tool whose class sets `parallel_safe = False` runs alone.

Front ends get a tool's structured data with its result (`ToolResult.data`) and, when a
call asks for approval, the tool's own preview of what it would change
(`Approval.preview`); both are bounded by `event_data` so an event stays small.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent import events as ev
from agent.agent_tool import AgentTool
from agent.approval import ApprovalPolicy, CallFacts, Verdict, headless_denial
from agent.call_format import argument_problem, unknown_tool_problem
from agent.hooks import HookRunner
from tools.background_tools import exit_notes
from tools.base import SideEffect, Tool, ToolContext, ToolError
from tools.sandbox.session import SessionSandbox

# What an interactive front end answers when asked: "once", "always" or "deny".
Approver = Callable[[CallFacts, ev.ToolCall], Awaitable[str]]
Emit = Callable[[ev.Event], None]
# (repo, label) -> checkpoint ref; raises on failure.
Checkpointer = Callable[[Path, str], str]

# A string in an event's data longer than this (the diff of a big write) is cut at a line
# end and `<key>_truncated: true` is added, so no event carries whole large files.
EVENT_TEXT_LIMIT = 32 * 1024


def event_data(data: dict[str, Any]) -> dict[str, Any]:
    """A tool's data as events carry it: JSON values only, long strings cut, and no
    `image` or `images` (the result's `images` carries them)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("image", "images"):
            continue
        if isinstance(value, str) and len(value) > EVENT_TEXT_LIMIT:
            cut = value.rfind("\n", 0, EVENT_TEXT_LIMIT) + 1
            value = value[: cut or EVENT_TEXT_LIMIT]
            out[f"{key}_truncated"] = True
        out[key] = value
    return json.loads(json.dumps(out, default=str))


def network_events(session: SessionSandbox, step: int | None) -> list[ev.NetworkAccess]:
    """The proxy's decisions since the last call, as events (each reported once)."""
    return [ev.NetworkAccess(d.allowed, d.method, d.host, d.port, d.reason, d.address, d.entry,
                             step) for d in session.take_decisions()]  # fmt: skip


@dataclass
class PreparedCall:
    event: ev.ToolCall
    tool: Tool | None = None
    args: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # why it cannot run (malformed); None when valid

    @property
    def side_effect(self) -> SideEffect:
        return self.tool.side_effect_of(self.args) if self.tool else SideEffect.READ


def prepare(event: ev.ToolCall, tools: dict[str, Tool]) -> PreparedCall:
    """Check the name and the arguments; a problem is a precise message for the model."""
    tool = tools.get(event.name)
    if tool is None:
        return PreparedCall(event, problem=unknown_tool_problem(event.name, tools))
    try:
        parsed = tool.parse_args(event.arguments)
    except ToolError as exc:
        return PreparedCall(event, tool, problem=argument_problem(str(exc), tool))
    return PreparedCall(event, tool, args=parsed.model_dump(exclude_unset=True))


@dataclass
class StuckDetector:
    """The same call with the same result, again and again, with nothing changed between.

    At `repeats` identical outcomes the result carries a warning and the call is blocked;
    a blocked call is not run again (the model is told), and `give_up_after` attempts at
    blocked calls end the run. A different write or command resets everything, since it
    may have changed what the repeated call would see.
    """

    repeats: int = 3
    give_up_after: int = 2
    counts: dict[str, int] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    blocked_attempts: int = 0

    @staticmethod
    def call_key(call: PreparedCall) -> str:
        args = call.args if call.problem is None else call.event.arguments
        return json.dumps([call.event.name, args], sort_keys=True, default=str)

    def check_blocked(self, call: PreparedCall) -> str | None:
        if self.call_key(call) not in self.blocked:
            return None
        self.blocked_attempts += 1
        return (
            f"not run: this exact {call.event.name} call already returned the same result "
            f"{self.repeats} times. Repeating it will not help; change approach or finish."
        )

    def record(self, call: PreparedCall, ok: bool, output: str) -> str | None:
        """Count an outcome; returns a warning to append when the call is now blocked."""
        key = self.call_key(call)
        if call.side_effect is not SideEffect.READ and not any(
            k.startswith(key) for k in self.counts
        ):
            self.counts.clear()
            self.blocked.clear()
        outcome = key + json.dumps([ok, output])
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if self.counts[outcome] >= self.repeats:
            self.blocked.add(key)
            return (
                f"\n[tessera: this exact call returned this same result {self.counts[outcome]} "
                "times; it will not be run again. Change approach or finish.]"
            )
        return None

    @property
    def gave_up(self) -> bool:
        return self.blocked_attempts >= self.give_up_after


@dataclass
class CallRunner:
    repo: Path
    tools: dict[str, Tool]
    ctx: ToolContext
    approval: ApprovalPolicy
    emit: Emit
    approver: Approver | None = None
    checkpointer: Checkpointer | None = None
    stuck: StuckDetector = field(default_factory=StuckDetector)
    hooks: HookRunner | None = None  # PreToolUse runs before approval: rules judge what runs

    async def run_step(self, step: int, calls: Sequence[PreparedCall]) -> list[ev.ToolResult]:
        """Every call gets exactly one result, in the model's order."""
        results: list[ev.ToolResult | None] = [None] * len(calls)
        runnable: list[int] = []
        for index, call in enumerate(calls):
            refusal = call.problem or self.stuck.check_blocked(call)
            if refusal is None and self.hooks is not None:
                refusal = await self.hooks.before_tool(call)
            if refusal is None:
                refusal = await self._approve(call)
            if refusal is not None:
                results[index] = self._result(step, call, False, refusal, count=False)
            else:
                runnable.append(index)
        checkpointed = False
        batch: list[int] = []
        for index in runnable:
            tool = calls[index].tool
            if calls[index].side_effect is SideEffect.READ:
                if getattr(tool, "parallel_safe", True):
                    batch.append(index)
                else:  # a read with shared state of its own (a cache, say) runs alone
                    await self._run_batch(step, calls, batch, results)
                    batch = []
                    await self._run_batch(step, calls, [index], results)
                continue
            await self._run_batch(step, calls, batch, results)
            batch = []
            # A fetch changes no file: nothing for a checkpoint to keep.
            if not checkpointed and calls[index].side_effect is not SideEffect.NETWORK:
                checkpointed = True
                self._checkpoint(step)
            results[index] = await self._run_one(step, calls[index])
        await self._run_batch(step, calls, batch, results)
        return [r for r in results if r is not None]

    async def _run_batch(
        self,
        step: int,
        calls: Sequence[PreparedCall],
        batch: list[int],
        results: list[ev.ToolResult | None],
    ) -> None:
        done = await asyncio.gather(*(self._run_one(step, calls[i], emit=False) for i in batch))
        for index, result in zip(batch, done, strict=True):
            self._publish(calls[index], result)
            results[index] = result

    async def _approve(self, call: PreparedCall) -> str | None:
        """None when the call may run, else the denial the model will read."""
        assert call.tool is not None
        tool = call.tool
        facts = CallFacts.from_call(call.event.name, call.side_effect, call.args, self.repo,
                                    sandboxed=tool.sandboxed, read_only_hint=tool.read_only_hint)
        decision = self.approval.decide(facts)
        if decision.verdict is Verdict.ALLOW:
            if call.side_effect is not SideEffect.READ:
                self._approval(call, "granted", decision.reason)
            return None
        if decision.verdict is Verdict.ASK and self.approver is not None:
            preview = await asyncio.to_thread(self._preview, call)
            self._approval(call, "requested", decision.reason, preview)
            answer = await self._ask(facts, call)
            if answer in ("once", "always"):
                if answer == "always":
                    rule = self.approval.allow_for_session(facts)
                    reason = f"approved by the user for this session ({rule.describe()})"
                else:
                    reason = "approved by the user"
                self._approval(call, "granted", reason)
                return None
            self._approval(call, "denied", "denied by the user")
            return "denied by the user; do not retry this call. Continue without it or finish."
        if decision.verdict is Verdict.ASK:
            message = headless_denial(facts, decision, self.approval.mode)
        else:
            message = f"denied: {decision.reason}. Do not retry it; continue without it."
        self._approval(call, "denied", message)
        return message

    async def _ask(self, facts: CallFacts, call: PreparedCall) -> str:
        """The approver's answer; Notification hooks run meanwhile, not before it asks."""
        assert self.approver is not None
        if self.hooks is None:
            return await self.approver(facts, call.event)
        message = f"Tessera needs your permission to use {call.event.name}"
        notified = asyncio.ensure_future(self.hooks.notify(message))
        try:
            answer = await self.approver(facts, call.event)
        except BaseException:  # stopped while asking: do not wait for the notifier
            notified.cancel()
            raise
        await notified  # its `hook` event is published before the approval's answer
        return answer

    def _approval(
        self, call: PreparedCall, decision: str, reason: str, preview: dict[str, Any] | None = None
    ) -> None:
        self.emit(ev.Approval(call.event.id, call.event.name, decision, reason, preview or {}))

    def _preview(self, call: PreparedCall) -> dict[str, Any]:
        """The tool's own dry run of the call, for the one who approves it."""
        assert call.tool is not None
        try:
            return event_data(call.tool.dry_run(call.args, self.ctx) or {})
        except Exception as exc:  # a preview bug must not block the approval itself
            return {"error": f"no preview: {type(exc).__name__}: {exc}"}

    def _checkpoint(self, step: int) -> None:
        if self.checkpointer is None:
            return
        label = f"before step {step}"
        try:
            ref = self.checkpointer(self.repo, label)
        except Exception as exc:  # a failed checkpoint must not silently pass for a taken one
            self.emit(ev.Error(f"no checkpoint before step {step}: {exc}", step=step))
            return
        self.emit(ev.Checkpoint(step, ref, label))

    async def _run_one(self, step: int, call: PreparedCall, *, emit: bool = True) -> ev.ToolResult:
        assert call.tool is not None
        tool = call.tool
        images: list[dict[str, Any]] = []
        data: dict[str, Any] = {}
        try:
            try:
                result = await tool.ainvoke(call.args, replace(self.ctx, call_id=call.event.id))
            except asyncio.CancelledError:
                tool.cancel()  # a worker thread cannot be stopped; what it waits on can
                raise
            ok, text = result.ok, result.text
            shown = (result.data or {}) if result.ok else {}
            # The model sees them with the result: one `image` (view_image), or `images`
            # (an MCP result may carry several; `image` is then the first of them).
            for image in shown.get("images") or [shown.get("image")]:
                if isinstance(image, dict):
                    images.append(image)
            data = event_data(result.data or {})
        except Exception as exc:  # a tool bug is reported to the model, not a crash of the loop
            ok = False
            text = f"the {tool.name} tool failed unexpectedly: {type(exc).__name__}: {exc}"
        if self.hooks is not None:
            text = await self.hooks.after_tool(call, ok, text, data)
        text += self._session_news(step)
        return self._result(step, call, ok, text, emit=emit, images=images, data=data)

    def _session_news(self, step: int) -> str:
        """Report what the session's sandbox did meanwhile: the proxy's connections as
        events, background processes that ended as lines for the model (once each)."""
        session = self.ctx.session
        if session is None:
            return ""
        for event in network_events(session, step):
            self.emit(event)
        return "".join(f"\n{note}" for note in exit_notes(session))

    def _result(
        self, step: int, call: PreparedCall, ok: bool, text: str, *, count: bool = True,
        emit: bool = True, images: list[dict[str, Any]] | None = None,
        data: dict[str, Any] | None = None,
    ) -> ev.ToolResult:
        if count:
            warning = self.stuck.record(call, ok, text)
            if warning:
                text += warning
        result = ev.ToolResult(
            step, call.event.id, call.event.name, ok, text, images or [], data or {}
        )
        if emit:
            self._publish(call, result)
        return result

    def _publish(self, call: PreparedCall, result: ev.ToolResult) -> None:
        """The result, then what an agent-layer tool adds after it (the `todo` event)."""
        self.emit(result)
        if result.ok and isinstance(call.tool, AgentTool):
            for event in call.tool.events_after(result):
                self.emit(event)

    def ending_result(self, results: Sequence[ev.ToolResult]) -> ev.ToolResult | None:
        """The successful result of a tool that ends the run (`exit_plan`), if any."""
        for result in results:
            tool = self.tools.get(result.name)
            if result.ok and isinstance(tool, AgentTool) and tool.ends_run:
                return result
        return None
