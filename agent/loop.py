"""The step loop: ask the model, run what it calls, append the results, repeat.

In the spirit of mini-swe-agent: one short loop; behaviour lives in the prompt, the
approval policy, the effort policy and the budgets, not in branches here. A run ends
when the model answers without a tool call (`done`), a budget runs out (`budget`), the
model keeps repeating itself (`stuck`) or something fails (`error`). Every happening
is an event passed to `emit`, which stores it before any front end shows it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agent import events as ev
from agent.approval import ApprovalPolicy
from agent.backend import (
    Backend,
    BackendError,
    ChatRequest,
    Delta,
    FinishDelta,
    MalformedDelta,
    Message,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UsageDelta,
    takes_thinking_budget,
)
from agent.call_format import malformed_note, misplaced_call
from agent.calls import Approver, CallRunner, Checkpointer, PreparedCall, StuckDetector, prepare
from agent.compaction import (
    SUMMARY_REQUEST,
    CompactionError,
    CompactionSettings,
    NothingToCompact,
    kept_tail,
    on_request_keep_tokens,
)
from agent.effort import EffortPolicy, StepSignals
from agent.history import History
from agent.hooks import HookRunner
from agent.tokens import TokenCounter, default_counter
from tools.base import Tool, ToolContext

if TYPE_CHECKING:
    from agent.verify import Verifier


@dataclass
class Budgets:
    max_steps: int = 50
    # Engine work: prompt tokens not served from the prefix cache, plus generated tokens.
    max_tokens: int | None = None
    max_wall_s: float | None = None
    # Steps in a row whose output or calls were malformed before the run gives up.
    malformed_retries: int = 3
    stuck_repeats: int = 3


@dataclass
class LoopSettings:
    repo: Path
    tools: list[Tool]
    tool_context: ToolContext
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    effort: EffortPolicy = field(default_factory=EffortPolicy)
    budgets: Budgets = field(default_factory=Budgets)
    approver: Approver | None = None  # None: headless, "ask" becomes "deny"
    checkpointer: Checkpointer | None = None
    on_delta: Callable[[Delta], None] | None = None  # live display only; never stored
    compaction: CompactionSettings | None = None  # None: never compact
    verifier: Verifier | None = None  # checks after a step that changed files (agent/verify.py)
    # Context accounting with the model's tokenizer; None: the default (agent/tokens.py).
    token_counter: TokenCounter | None = None
    hooks: HookRunner | None = None  # the user's hooks (agent/hooks.py); None: none
    # Tools that come and go during the session (MCP servers', tools/mcp/hub.py), asked
    # before each step; the same list object back means nothing changed.
    dynamic_tools: Callable[[], list[Tool]] | None = None


@dataclass
class StepOutput:
    thinking: str = ""
    text: str = ""
    calls: dict[int, list[str]] = field(default_factory=dict)  # index -> [name, arguments]
    malformed: list[tuple[str, str]] = field(default_factory=list)  # (problem, raw output)
    usage: UsageDelta | None = None
    finish_reason: str = ""
    raw: str | None = None


class AgentLoop:
    def __init__(self, backend: Backend, settings: LoopSettings, emit: Callable[[ev.Event], None]):
        self.backend = backend
        self.settings = settings
        self.history = History()
        self._emit_to = emit
        self.step = 0
        self.spent_tokens = 0
        self.context_tokens = 0
        self._started = time.monotonic()
        self._run_first_step = 0
        self._run_spent_before = 0
        self._malformed_streak = 0
        self._failure_streak = 0
        self._signals = StepSignals(step=1)
        self._no_compaction_below = 0
        self._counter = settings.token_counter
        self._partial: StepOutput | None = None  # the step's turn while it streams
        self._schemas = [t.schema() for t in settings.tools]
        self._dynamic: list[Tool] = []
        self.runner = CallRunner(
            repo=settings.repo,
            tools={t.name: t for t in settings.tools},
            ctx=settings.tool_context,
            approval=settings.approval,
            emit=self.emit,
            approver=settings.approver,
            checkpointer=settings.checkpointer,
            stuck=StuckDetector(repeats=settings.budgets.stuck_repeats),
            hooks=settings.hooks,
        )

    def emit(self, event: ev.Event) -> None:
        self.history.apply(event)
        self._emit_to(event)

    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = default_counter()
        return self._counter

    def count_context(self) -> int:
        """Tokens of the request the next step sends: system prompt, tools, history."""
        self.sync_tools()
        return self.counter.context(self.history.system, self._schemas, self.history.messages)

    def sync_tools(self) -> list[Tool]:
        """The tools the model gets now: the settings', then the dynamic ones as of now."""
        source = self.settings.dynamic_tools
        if source is None:
            return list(self.settings.tools)
        dynamic = source()
        if dynamic is not self._dynamic:
            self._dynamic = dynamic
            tools = [*self.settings.tools, *dynamic]
            self._schemas = [t.schema() for t in tools]
            self.runner.tools = {t.name: t for t in tools}
        return [*self.settings.tools, *self._dynamic]

    def add_user_message(self, text: str, images: list[dict] | None = None) -> None:
        """A follow-up from the user; the next step plans again. `images` are stored
        images (tools/images.attach_image(...).as_data()["image"]) shown with the text."""
        self.emit(ev.UserMessage(text, images=list(images or [])))
        self._signals.new_request = True

    async def run(self, start: ev.SessionStart) -> ev.Finish:
        self.emit(start)
        return await self.continue_run()

    async def continue_run(self) -> ev.Finish:
        """Step until the model is done or something ends the run; emits `finish`.

        Budgets count from here: a follow-up message or a resumed session gets fresh ones.
        """
        self._started = time.monotonic()
        self._run_first_step = self.step
        self._run_spent_before = self.spent_tokens
        try:
            if self._counter is None:  # loading the tokenizer takes a second or two: not on
                await asyncio.to_thread(lambda: self.counter)  # a front end's event loop
            # A follow-up, its images or a restored history count before the first step
            # (a long restored session takes a few hundred ms the first time).
            self.context_tokens = await asyncio.to_thread(self.count_context)
            finish = await self._steps()
        except BackendError as exc:
            self.emit(ev.Error(str(exc), step=self.step, fatal=True))
            finish = ev.Finish("error", str(exc), self.step)
        except asyncio.CancelledError:
            await self.backend.cancel()
            self._record_stopped_turn()
            finish = ev.Finish("cancelled", "the run was cancelled", self.step)
        except Exception as exc:  # a bug of ours: still close the session with its cause
            message = f"internal error: {type(exc).__name__}: {exc}"
            self.emit(ev.Error(message, step=self.step, fatal=True))
            finish = ev.Finish("error", message, self.step)
        self.emit(finish)
        return finish

    async def _steps(self) -> ev.Finish:
        budgets = self.settings.budgets
        while True:
            if ended := self._budget_exhausted():
                return ev.Finish("budget", ended, self.step)
            if self._needs_compaction():
                settings = self.settings.compaction
                assert settings is not None
                await self._compact(int(settings.context_limit * settings.keep_recent), "auto")
            self.step += 1
            self._signals.step = self.step
            self._signals.context_tokens = self.context_tokens
            self.settings.effort.takes_budgets = takes_thinking_budget(self.backend)
            decision = self.settings.effort.decide(self._signals)
            self.emit(
                ev.Effort(self.step, decision.value, decision.reason, decision.switched,
                          decision.reread_tokens, decision.budget)
            )
            self.sync_tools()  # an MCP server's tools, as of this step
            # A cold prompt the step itself caused (a switch, a compaction) says nothing
            # about the engine's cache.
            cold_expected = decision.switched or self._signals.compacted
            output = await self._stream(decision.value, budget=decision.budget)
            calls = self._emit_output(output)
            if output.finish_reason == "cancelled":
                for call in calls:  # every call in the history gets its one result
                    self.emit(ev.ToolResult(self.step, call.id, call.name, False,
                                            "not run: the turn was cancelled before it ended"))
                if ended := self._budget_exhausted():
                    return ev.Finish("budget", ended, self.step)
                return ev.Finish("cancelled", "the model's turn was cancelled", self.step)
            if not calls and (problem := misplaced_call(output.text, self.runner.tools)):
                output.malformed.append((problem, output.text))  # not a silent "done"
            if not calls and not output.malformed:
                keep_going = await self._stop_hook()
                if keep_going is None:
                    return ev.Finish("done", output.text.strip(), self.step)
                self.emit(ev.UserMessage(keep_going, origin="hook"))
                self._signals.new_request = True
                self.context_tokens = self.count_context()
                continue
            prepared = [prepare(call, self.runner.tools) for call in calls]
            malformed = bool(output.malformed) or any(p.problem for p in prepared)
            self._malformed_streak = self._malformed_streak + 1 if malformed else 0
            if output.malformed:
                self.emit(ev.UserMessage(malformed_note(output.malformed, self.runner.tools),
                                         origin="agent"))
            results = await self.runner.run_step(self.step, prepared)
            if ending := self.runner.ending_result(results):  # a plan handed to the user
                return ev.Finish("done", ending.output, self.step)
            if self.runner.stuck.gave_up:
                return ev.Finish(
                    "stuck", "the model kept repeating calls that had already returned the "
                    "same result", self.step)
            if malformed and self._malformed_streak > 1:
                self._report_malformed(output, prepared)
            if self._malformed_streak > budgets.malformed_retries:
                message = (f"the model produced malformed tool calls in "
                           f"{self._malformed_streak} steps in a row; gave up")
                return ev.Finish("error", message, self.step)
            checks_failed = await self._verify(results)
            failed = any(not r.ok for r in results) or malformed or checks_failed
            self._failure_streak = self._failure_streak + 1 if failed else 0
            self._signals = StepSignals(
                step=self.step + 1,
                last_failed=any(not r.ok for r in results),
                consecutive_failures=self._failure_streak,
                malformed=malformed,
                checks_failed=checks_failed,
                last_thinking_tokens=self.counter.text(output.thinking),
                cache_cold=not cold_expected and self._cache_was_cold(output.usage),
            )
            self.context_tokens = self.count_context()

    async def _verify(self, results: list[ev.ToolResult]) -> bool:
        """The configured checks, when the step changed files; a failure is the model's
        next message. True when one failed."""
        if self.settings.verifier is None:
            return False
        note = await self.settings.verifier.after_step(self.step, results, self.emit)
        if note:
            self.emit(ev.UserMessage(note, origin="agent"))
        return note is not None

    async def _stop_hook(self) -> str | None:
        """What a Stop hook that blocks the model's finishing tells it (None: finish)."""
        if self.settings.hooks is None:
            return None
        reason = await self.settings.hooks.stop()
        return None if reason is None else f"A Stop hook asks you to go on: {reason}"

    def _cache_was_cold(self, usage: UsageDelta | None) -> bool:
        """The engine served less than the policy's share of the prompt from its cache
        (it evicted our prefix, or another session's requests did)."""
        if usage is None or not usage.prompt_tokens or self.step == self._run_first_step + 1:
            return False
        share = usage.cached_prompt_tokens / usage.prompt_tokens
        return share < self.settings.effort.costs.cold_cache_share

    def _budget_exhausted(self) -> str | None:
        budgets = self.settings.budgets
        if self.step - self._run_first_step >= budgets.max_steps:
            return f"step budget of {budgets.max_steps} reached"
        spent = self.spent_tokens - self._run_spent_before
        if budgets.max_tokens is not None and spent >= budgets.max_tokens:
            return f"token budget reached: {spent} of {budgets.max_tokens}"
        elapsed = time.monotonic() - self._started
        if budgets.max_wall_s is not None and elapsed >= budgets.max_wall_s:
            return f"wall-time budget of {budgets.max_wall_s:g} s reached"
        return None

    async def _stream(self, effort: str, extra: list[Message] | None = None,
                      budget: int | None = None) -> StepOutput:
        request = ChatRequest(
            system=self.history.system,
            messages=[*self.history.messages, *(extra or [])],
            tools=self._schemas,
            effort=effort,
            thinking_budget=budget,
        )
        output = StepOutput()
        if extra is None:  # a step's own turn (not a compaction summary): kept if stopped
            self._partial = output
        budgets = self.settings.budgets
        remaining = None
        if budgets.max_wall_s is not None:
            remaining = max(0.0, budgets.max_wall_s - (time.monotonic() - self._started))
        try:
            async with asyncio.timeout(remaining):
                async for delta in self.backend.stream(request):
                    self._collect(output, delta)
        except TimeoutError:
            await self.backend.cancel()
            output.finish_reason = "cancelled"
        self._partial = None
        return output

    def _record_stopped_turn(self) -> None:
        """The run was cancelled mid-stream (the user stopped it): what the model had said
        so far stays in the history and the session, so it sees it next turn and a resume
        shows it. Calls it was still writing never ran and are dropped."""
        partial, self._partial = self._partial, None
        if partial is None or not (partial.text or partial.thinking):
            return
        partial.calls.clear()
        partial.malformed.clear()
        partial.finish_reason = "cancelled"
        self._emit_output(partial)  # `usage` (what was reported, else 0) completes the step

    def _needs_compaction(self) -> bool:
        settings = self.settings.compaction
        return (
            settings is not None
            and self.context_tokens >= settings.threshold
            and self.context_tokens >= self._no_compaction_below
            and len(self.history.messages) > 2
        )

    async def compact(self, reason: str = "user") -> ev.Compaction:
        """Compact now, between runs (the user asked): the same summary as near the
        context limit, keeping the system prompt, the task and the recent turns verbatim.

        Raises NothingToCompact when every message after the task would be kept anyway,
        CompactionError when the model wrote no summary (the history is unchanged),
        BackendError when the backend fails. Cancelling it leaves the history as it was.
        """
        if self.history.pending_calls():
            raise CompactionError("a call of the last step has no result yet; send a "
                                  "message first so that every call gets its result")
        await asyncio.to_thread(lambda: self.counter)  # the tokenizer loads off the loop
        messages = self.history.messages
        history_tokens = sum(self.counter.message(m) for m in messages[1:])
        keep_tokens = on_request_keep_tokens(self.settings.compaction, history_tokens)
        kept = kept_tail(messages, keep_tokens, self.counter.message)
        if len(messages) - 1 - kept < 1:
            after_task = max(0, len(messages) - 1)
            raise NothingToCompact(
                f"too little history to compact: {after_task} message(s) after the task, "
                "all of them recent turns that stay as they are")
        self.context_tokens = await asyncio.to_thread(self.count_context)
        self._started = time.monotonic()  # a wall budget counts from now, as for a run
        try:
            compaction = await self._compact(keep_tokens, reason)
        except asyncio.CancelledError:
            await self.backend.cancel()
            raise
        if compaction is None:
            raise CompactionError("the model wrote no summary; the history is unchanged")
        return compaction

    async def _compact(self, keep_tokens: int, reason: str) -> ev.Compaction | None:
        """Ask the model for a summary of the older turns and replace them with it,
        keeping the trailing turns within `keep_tokens`; None when it wrote no summary."""
        if self.settings.hooks is not None:  # told, not asked: compaction goes ahead
            await self.settings.hooks.run("PreCompact", {"trigger": "manual" if reason == "user"
                                                         else reason, "custom_instructions": ""})
        effort = self.settings.effort.current or "high"  # no switch: no extra re-read
        note = Message(role="user", content=SUMMARY_REQUEST)
        output = await self._stream(effort, [note])
        usage = output.usage or UsageDelta(0, 0, 0)
        self.spent_tokens += (
            usage.prompt_tokens - usage.cached_prompt_tokens + usage.completion_tokens
        )
        summary = output.text.strip()
        if not summary:
            if reason == "auto":  # do not ask again before the context has grown
                self._no_compaction_below = int(self.context_tokens * 1.1)
            self.emit(ev.Error(
                "compaction failed: the model wrote no summary; continuing with the full "
                "history", step=self.step))
            return None
        messages = self.history.messages
        kept = kept_tail(messages, keep_tokens, self.counter.message)
        before = self.context_tokens
        compaction = ev.Compaction(self.step, summary, kept, len(messages) - 1 - kept, before,
                                   output.raw or "", reason)
        self.emit(compaction)
        self._signals.compacted = True  # the next prompt is new to the cache anyway
        self.counter.forget(self.history.messages)
        self.context_tokens = self.count_context()
        return compaction

    def _collect(self, output: StepOutput, delta: Delta) -> None:
        if self.settings.on_delta is not None:
            self.settings.on_delta(delta)
        match delta:
            case TextDelta(text=text):
                output.text += text
            case ThinkingDelta(text=text):
                output.thinking += text
            case ToolCallDelta(index=index, name=name, arguments=arguments):
                piece = output.calls.setdefault(index, ["", ""])
                piece[0] += name
                piece[1] += arguments
            case MalformedDelta(message=message, raw=raw):
                output.malformed.append((message, raw))
            case UsageDelta():
                output.usage = delta
            case FinishDelta(reason=reason, raw=raw):
                output.finish_reason, output.raw = reason, raw

    def _emit_output(self, output: StepOutput) -> list[ev.ToolCall]:
        step = self.step
        if output.thinking:
            self.emit(ev.Thinking(step, output.thinking))
        if output.text:
            self.emit(ev.Text(step, output.text))
        calls = []
        for position, index in enumerate(sorted(output.calls)):
            name, raw_args = output.calls[index]
            # Nine alphanumerics: what mistral-common accepts as a call id, unique per session.
            call_id = f"s{step:05d}c{position:02d}"
            call = ev.ToolCall(step, call_id, name.strip(), _arguments(raw_args))
            self.emit(call)
            calls.append(call)
        if output.raw is not None:
            self.emit(ev.RawOutput(step, output.raw))
        usage = output.usage or UsageDelta(0, 0, 0)
        self.emit(ev.Usage(step, usage.prompt_tokens, usage.cached_prompt_tokens,
                           usage.completion_tokens, output.finish_reason))
        self.spent_tokens += (
            usage.prompt_tokens - usage.cached_prompt_tokens + usage.completion_tokens
        )
        self.context_tokens = self.count_context()
        return calls

    def _report_malformed(self, output: StepOutput, prepared: list[PreparedCall]) -> None:
        """Steps in a row whose calls could not be used: a loud `error` each time (fatal
        when the retries are spent), naming the latest problem."""
        streak, retries = self._malformed_streak, self.settings.budgets.malformed_retries
        problems = [m for m, _ in output.malformed] + [p.problem for p in prepared if p.problem]
        fatal = streak > retries
        then = "gave up" if fatal else f"{retries + 1 - streak} more and the run ends"
        self.emit(ev.Error(
            f"the model's tool calls could not be used in {streak} steps in a row ({then}); "
            f"latest problem: {problems[0] if problems else 'unknown'} (a local model that "
            "keeps failing may do better with a lower temperature or a larger model)",
            step=self.step, fatal=fatal))


def _arguments(raw: str) -> dict | str:
    """The parsed object when the text is a JSON object; else the raw text, kept for the
    error message and the record."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return value if isinstance(value, dict) else raw



__all__ = ["AgentLoop", "Budgets", "LoopSettings", "PreparedCall"]
