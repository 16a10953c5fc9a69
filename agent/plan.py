"""Plan mode: the model explores with read-only tools and ends with a plan; nothing
changes until the user approves it.

It is a profile (agent/session_driver.py), not a branch in the loop: read-only tools
plus `exit_plan`, approval `read-only`, no checkpoints. The user's message carries
`PLAN_NOTE`, so the system prompt (and the engine's cached prefix) stays the session's
own. The run ends with the plan: the `exit_plan` call (a tool that ends the run), or
else the model's final answer is read as the plan. The profile's `close_run` turns it
into a `plan` event before the `finish`.

Approving (`approve_plan`) continues the same session under the coding profile with the
approval policy the user chose, the plan's steps as the todo list and a note to carry
it out; rejecting (`reject_plan`) records the decision and leaves plan mode on.
"""

from __future__ import annotations

import re

from pydantic import Field

from agent import events as ev
from agent.agent_tool import AgentTool
from agent.session_driver import CODING, Profile, SessionDriver
from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolResult

PLAN_NOTE = (
    "[plan mode] Do not change anything yet: no edits, no commands. Explore with the "
    "read-only tools as much as you need, then call exit_plan with your plan: a short "
    "numbered list of concrete steps (files to change, what to check). The user approves, "
    "edits or rejects it before anything changes."
)
APPROVED = (
    "The user approved the plan{edited}. Carry it out now; you may change files. Your todo "
    "list is set from its steps: keep it current with todo_write as you go.\n\n{plan}"
)
_NUMBERED = re.compile(r"^(?:\d+[.)]|[-*])\s+(.+?)\s*$")


def plan_request(text: str) -> str:
    """The user's message as plan mode sends it."""
    return f"{text.rstrip()}\n\n{PLAN_NOTE}"


def planned_task(task: str) -> str | None:
    """The user's own task when `task` is a plan-mode request (`plan_request`), else None:
    `tessera replay` runs such a session in plan mode again."""
    suffix = f"\n\n{PLAN_NOTE}"
    return task.removesuffix(suffix) if task.endswith(suffix) else None


def plan_steps(text: str) -> list[str]:
    """The plan's steps: its top-level numbered items, else its top-level bullets, else
    the whole plan as one step."""
    numbered, bullets = [], []
    for line in text.splitlines():
        match = _NUMBERED.match(line)
        if match:
            (bullets if line.lstrip()[0] in "-*" else numbered).append(match.group(1))
    return numbered or bullets or ([" ".join(text.split())] if text.strip() else [])


def todo_items(steps: list[str]) -> list[dict[str, str]]:
    """An approved plan's steps as a todo list: all pending, in order."""
    return [{"content": step, "status": "pending"} for step in steps]


class ExitPlanArgs(ToolArgs):
    plan: str = Field(min_length=1, description="the plan: a numbered list of steps, in markdown")


class ExitPlan(AgentTool):
    name = "exit_plan"
    description = (
        "Plan mode only: hand your plan to the user for approval and stop. The plan is a "
        "short numbered list of concrete steps; nothing changes until the user approves it."
    )
    Args = ExitPlanArgs
    side_effect = SideEffect.READ
    ends_run = True  # the run ends here and waits for the user's decision

    def run(self, args: ExitPlanArgs, ctx: ToolContext) -> ToolResult:
        plan = args.plan.strip()
        return ToolResult(True, plan, {"steps": plan_steps(plan)})


def _plan_tools(tools: list[Tool]) -> list[Tool]:
    return [*(t for t in tools if t.side_effect is SideEffect.READ), ExitPlan()]


def _close_plan(finish: ev.Finish) -> list[ev.Event]:
    if finish.status != "done":
        return [finish]
    plan = finish.summary.strip()
    if not plan:
        message = "plan mode: the model ended without a plan"
        return [ev.Error(message, step=finish.steps, fatal=True),
                ev.Finish("error", message, finish.steps)]
    steps = plan_steps(plan)
    summary = f"plan ready: {len(steps)} step(s), nothing changed yet"  # the plan: its event
    return [ev.Plan(plan, steps), ev.Finish("done", summary, finish.steps)]


def plan_profile() -> Profile:
    return Profile(name="plan", tools=_plan_tools, approval="read-only", checkpoints=False,
                   close_run=_close_plan)


def undecided_plan(events: list[ev.Event]) -> ev.Plan | None:
    """The plan a stored session ended with, when nothing (a decision, a message) came
    after it: a resumed chat offers it for a decision again."""
    for event in reversed(events):
        if isinstance(event, ev.Plan):
            return event
        if isinstance(event, ev.PlanDecision | ev.UserMessage | ev.SessionStart):
            return None
    return None


async def approve_plan(driver: SessionDriver, plan: str, approval: str,
                       edited: bool = False) -> ev.Finish:
    """Go on with the same session under the coding profile and `approval`, the plan's
    steps as the todo list; runs until the model is done (like `driver.send`)."""
    driver.set_profile(CODING, approval=approval)
    await driver.record(ev.PlanDecision("approved", plan, approval))
    await driver.record(ev.Todo(todo_items(plan_steps(plan))))
    note = APPROVED.format(edited=", with the user's edits" if edited else "", plan=plan)
    return await driver.send(note)


async def reject_plan(driver: SessionDriver, plan: str) -> None:
    """Record that the user rejected the plan; plan mode stays on for the next message."""
    await driver.record(ev.PlanDecision("rejected", plan))
