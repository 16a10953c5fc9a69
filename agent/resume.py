"""Continuing a stored session: rebuild the loop's state from its events.

A completed tool call (one with a stored result) is never run again. A call that was
made but has no result was cut off by the crash: a read is simply run again; a write or
command may or may not have happened, so the model is told so instead of it being
repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent import events as ev
from agent.calls import prepare
from agent.loop import AgentLoop
from tools.base import SideEffect

INTERRUPTED = (
    "interrupted: the session stopped while this call was running, so whether it took "
    "effect is unknown. Check the current state (read the file, `git status`) before "
    "deciding whether to repeat it."
)


class CannotResume(Exception):
    pass


# Events a step emits while reading the model's turn; `usage` comes last and completes it.
_TURN_EVENTS = (ev.Thinking, ev.Text, ev.ToolCall, ev.RawOutput)


def last_complete_step(events: list[ev.Event]) -> int:
    return max((e.step for e in events if isinstance(e, ev.Usage)), default=0)


def restore(loop: AgentLoop, events: list[ev.Event]) -> ev.SessionStart:
    """Load `events` into a fresh loop without emitting them again.

    A step cut off while its turn was being stored (no `usage` yet) ran no tool, so it is
    left out of the history and the model is asked again; its step number is not reused.
    """
    if not events or not isinstance(events[0], ev.SessionStart):
        raise CannotResume("the session has no session_start event")
    complete = last_complete_step(events)
    for event in events:
        step = getattr(event, "step", None)
        if isinstance(step, int):
            loop.step = max(loop.step, step)
        if isinstance(event, _TURN_EVENTS) and event.step > complete:
            continue
        loop.history.apply(event)
        match event:
            case ev.Usage(prompt_tokens=p, cached_prompt_tokens=c, completion_tokens=g):
                loop.spent_tokens += p - c + g
            case ev.Effort(value=value):
                loop.settings.effort.current = value
            case _:
                pass
    return events[0]  # the loop counts the restored context when it continues


async def finish_interrupted_calls(loop: AgentLoop) -> None:
    """Give every call of the last turn that has no result exactly one result."""
    pending = loop.history.pending_calls()
    if not pending:
        return
    step = loop.step
    for call in pending:
        event = ev.ToolCall(step, call.id, call.name, call.arguments)
        prepared = prepare(event, loop.runner.tools)
        if prepared.problem is None and prepared.side_effect is SideEffect.READ:
            await loop.runner.run_step(step, [prepared])
        else:
            loop.emit(ev.ToolResult(step, call.id, call.name, False, INTERRUPTED))


@dataclass(frozen=True)
class StoredSettings:
    """The settings a stored session last ran with: its start's, as later changed."""

    backend: str
    effort: str
    approval: str


def stored_settings(events: list[ev.Event]) -> StoredSettings:
    """The latest backend, effort and approval policy (`session_start`, then each
    `settings_change`, and the approval chosen with an approved plan)."""
    start = events[0] if events else None
    if not isinstance(start, ev.SessionStart):
        raise CannotResume("the session has no session_start event")
    backend, effort, approval = start.backend, start.effort, start.approval
    for event in events:
        if isinstance(event, ev.SettingsChange):
            backend = event.backend or backend
            effort = event.effort or effort
            approval = event.approval or approval
        elif isinstance(event, ev.PlanDecision) and event.approval:
            approval = event.approval
    return StoredSettings(backend, effort, approval)


def replayed_turns(events: list[ev.Event]) -> int:
    """How many turns the session took from its current backend, i.e. since the latest
    backend switch (a replay backend skips that many)."""
    from agent.replay import session_turns

    switches = [i for i, e in enumerate(events)
                if isinstance(e, ev.SettingsChange) and e.backend is not None]
    since = switches[-1] + 1 if switches else 0
    return len(session_turns(events[since:]))
