"""Continuing a stored session: rebuild the loop's state from its events.

A completed tool call (one with a stored result) is never run again. A call that was
made but has no result was cut off by the crash: a read is simply run again; a write or
command may or may not have happened, so the model is told so instead of it being
repeated.
"""

from __future__ import annotations

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


def restore(loop: AgentLoop, events: list[ev.Event]) -> ev.SessionStart:
    """Load `events` into a fresh loop without emitting them again."""
    if not events or not isinstance(events[0], ev.SessionStart):
        raise CannotResume("the session has no session_start event")
    for event in events:
        loop.history.apply(event)
        match event:
            case ev.Usage(step=step, prompt_tokens=p, cached_prompt_tokens=c,
                          completion_tokens=g):
                loop.step = max(loop.step, step)
                loop.spent_tokens += p - c + g
                loop.context_tokens = p + g
            case ev.Effort(value=value):
                loop.settings.effort.current = value
            case _:
                pass
    return events[0]


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


def replayed_turns(events: list[ev.Event]) -> int:
    """How many model turns the session consumed (a replay backend skips that many)."""
    return sum(isinstance(e, ev.RawOutput) for e in events)
