"""A headless run (`tessera run`, `tessera replay`): one session driven to its end by the
session driver, its events printed as a short transcript or as JSON lines.

There is no one to ask, so what the approval policy would ask about is denied and
`ask_user` gets "no user available" (agent/ask_user.py). With `plan`, the run is in plan
mode (agent/plan.py) and ends by printing the plan. Every
event is stored before it is printed (agent/session_driver.py), so `--resume` can
continue any run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from agent import events as ev
from agent.render import render_human
from agent.session_driver import (
    CODING,
    Consumer,
    SessionDriver,
    SessionOptions,
    SessionSetupError,
)


@dataclass
class RunOptions(SessionOptions):
    task: str | None = None  # with `resume`: a follow-up (None: go on as it stood)
    json: bool = False  # one JSON event per line, else a human transcript
    images: list[Path] = field(default_factory=list)  # attached to the task (or follow-up)
    plan: bool = False  # plan mode (agent/plan.py): read-only, ends with the plan


def attach_images(paths: list[Path]) -> list[dict]:
    """Validate and store each image by content hash; what a message event carries."""
    from agent import paths as data_paths
    from agent.attachments import AttachmentError, attach

    try:
        return attach(paths, data_paths.data_dir())
    except AttachmentError as exc:
        raise SessionSetupError(f"--image: {exc}") from exc


def with_command_expanded(options: RunOptions) -> RunOptions:
    """The options with a `/NAME args` task replaced by the command's prompt (and its
    effort, unless one was given)."""
    from agent.custom_commands import CommandError, expand_invocation

    if not options.task:
        return options
    try:
        expanded = expand_invocation(options.repo, options.task)
    except CommandError as exc:
        raise SessionSetupError(str(exc)) from exc
    if expanded is None:
        return options
    return replace(options, task=expanded.prompt,
                   effort=options.effort or expanded.command.effort)


def printer(out: TextIO, as_json: bool) -> Consumer:
    """A consumer that prints each event (docs/events.md for the JSON form)."""

    def show(event: ev.Event) -> None:
        if as_json:
            out.write(event.to_json() + "\n")
        else:
            render_human(event, out)
        out.flush()

    return show


async def run_headless(options: RunOptions, out: TextIO | None = None) -> ev.Finish:
    """Run `options.task` (or continue `options.resume`) to the end; raises
    SessionSetupError when nothing could be run. A task `/NAME args` runs the custom
    command NAME (agent/custom_commands.py)."""
    options = with_command_expanded(options)
    profile, task = CODING, options.task
    if options.plan:
        from agent.plan import plan_profile, plan_request

        profile, task = plan_profile(), task and plan_request(task)
    driver = SessionDriver(options, profile)
    driver.subscribe(printer(out or sys.stdout, options.json))
    try:
        stored = driver.open()
        if not stored and not options.task:
            raise SessionSetupError("give a task, or --resume SESSION / --last")
        # A run a budget (or an error) stopped picks up where it was; a finished one
        # needs something new to do.
        last = stored[-1] if stored else None
        if isinstance(last, ev.Finish) and last.status == "done" and not options.task:
            raise SessionSetupError(
                f"session {driver.session_id} already finished; give a follow-up task to "
                "continue it")
        if options.images and not options.task:
            raise SessionSetupError("--image needs a task or a follow-up to go with it")
        images = attach_images(options.images)
        driver.prepare()
        for warning in driver.warnings:
            print(f"tessera: {warning}", file=sys.stderr)
        if not stored:
            assert task is not None
            return await driver.start(task, images)
        return await driver.send(task, images)
    finally:
        driver.close()
