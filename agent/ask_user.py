"""`ask_user`: the model asks the user a question with 2 to 6 options (or free text).

An interactive front end answers through an `Asker` (the TUI shows a chooser). A
headless run has nobody to ask: the call returns at once with `NO_USER`, recorded in
its `tool_result` (`data.answered_by` "nobody"), so it never blocks a run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import Field, model_validator

from agent.agent_tool import AgentTool
from tools.base import SideEffect, ToolArgs, ToolContext, ToolError, ToolResult

NO_USER = "no user available: decide and say what you assumed"


@dataclass(frozen=True)
class Question:
    call_id: str
    question: str
    options: list[str]


# What a front end gives: the chosen option's text, or the user's own words.
Asker = Callable[[Question], Awaitable[str]]


class AskArgs(ToolArgs):
    question: str = Field(min_length=1, max_length=2000)
    options: list[str] = Field(
        min_length=2, max_length=6,
        description="2 to 6 short answers to choose from; the user may also write their own")

    @model_validator(mode="after")
    def _distinct_options(self) -> AskArgs:
        if any(not option.strip() for option in self.options):
            raise ValueError("an option is blank")
        if len({option.strip() for option in self.options}) < len(self.options):
            raise ValueError("two options are the same")
        return self


class AskUser(AgentTool):
    name = "ask_user"
    description = (
        "Ask the user a question when a decision is theirs (what they want, a choice "
        "between approaches) and you cannot find the answer yourself. Give 2 to 6 short "
        "options; the user may answer in their own words instead. When nobody is there "
        "to answer, you are told so: then decide yourself and say what you assumed."
    )
    Args = AskArgs
    side_effect = SideEffect.READ
    parallel_safe = False  # one question at a time

    def __init__(self, asker: Asker | None = None) -> None:
        self.asker = asker

    def run(self, args: AskArgs, ctx: ToolContext) -> ToolResult:
        if self.asker is not None:
            raise ToolError("ask_user waits for the user on the event loop (ainvoke)")
        return ToolResult(True, NO_USER, {"question": args.question, "options": args.options,
                                          "answer": None, "answered_by": "nobody"})

    async def arun(self, args: AskArgs, ctx: ToolContext) -> ToolResult:
        if self.asker is None:
            return self.run(args, ctx)
        answer = (await self.asker(Question(ctx.call_id, args.question, args.options))).strip()
        if not answer:
            return ToolResult(True, "the user gave no answer: decide and say what you assumed",
                              {"question": args.question, "options": args.options,
                               "answer": None, "answered_by": "user"})
        choice = args.options.index(answer) if answer in args.options else None
        kind = f"chose option {choice + 1}" if choice is not None else "answered"
        return ToolResult(True, f"The user {kind}: {answer}",
                          {"question": args.question, "options": args.options,
                           "answer": answer, "choice": choice, "answered_by": "user"})
