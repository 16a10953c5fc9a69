"""The session's prompts through the hooks (agent/hooks.py): a new session's task and each
follow-up pass `UserPromptSubmit` (and `SessionStart`) before the model sees them.

A prompt a hook blocks is neither sent nor stored (a guard may block a prompt for what it
contains: a secret, say): the session records that a prompt was blocked, the hook's
event says why, and the run finishes `error`. Context the hooks add reaches the model as
`user_message`s with origin `hook`, after the prompt.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from agent import events as ev

if TYPE_CHECKING:
    from agent.loop import AgentLoop

# What a session_start stores instead of a prompt a UserPromptSubmit hook blocked.
BLOCKED_PROMPT = "(the prompt was blocked by a UserPromptSubmit hook and is not stored)"


async def run_new_session(loop: AgentLoop, start: ev.SessionStart) -> ev.Finish:
    """Start the session with `start` and run it, its task passed through the hooks."""
    hooks = loop.settings.hooks
    if hooks is None:
        return await loop.run(start)
    prompt = await hooks.run("UserPromptSubmit", {"prompt": start.task}, publish=False)
    if prompt.blocked:
        loop.emit(replace(start, task=BLOCKED_PROMPT, images=[]))
        hooks.publish(prompt)
        return _blocked(loop, prompt.reason)
    loop.emit(start)
    began = await hooks.run("SessionStart", {"source": "startup"})
    hooks.publish(prompt)
    _add_context(loop, [*began.context, *prompt.context])
    return await loop.continue_run()


async def submit_message(loop: AgentLoop, text: str, images: list[dict] | None,
                         resumed: bool) -> ev.Finish | None:
    """Add a follow-up to the conversation; the run's `finish` when a hook blocked it
    (None: added). `resumed`: the first message of a resumed session, which runs the
    SessionStart hooks (source "resume") first."""
    hooks = loop.settings.hooks
    if hooks is None:
        loop.add_user_message(text, images)
        return None
    context: list[str] = []
    if resumed:
        context += (await hooks.run("SessionStart", {"source": "resume"})).context
    prompt = await hooks.run("UserPromptSubmit", {"prompt": text})
    if prompt.blocked:
        return _blocked(loop, prompt.reason)
    loop.add_user_message(text, images)
    _add_context(loop, [*context, *prompt.context])
    return None


def _add_context(loop: AgentLoop, texts: list[str]) -> None:
    for text in texts:
        loop.emit(ev.UserMessage(text, origin="hook"))


def _blocked(loop: AgentLoop, reason: str) -> ev.Finish:
    finish = ev.Finish("error", f"a UserPromptSubmit hook blocked the prompt: {reason}",
                       loop.step)
    loop.emit(finish)
    return finish
