"""Wiring for a headless run: config, backend, tools, approvals, store and output.

Kept apart from the CLI module so tests and other front ends build a run the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from agent import events as ev
from agent.approval import ApprovalPolicy, Rule, RuleError, Verdict
from agent.backend import BackendError, Delta
from agent.backends import make_backend
from agent.calls import Approver
from agent.compaction import CompactionSettings
from agent.config import Config
from agent.context import build_system_context
from agent.effort import EffortPolicy
from agent.loop import AgentLoop, Budgets, LoopSettings
from agent.render import render_human
from agent.sessions import SessionNotFound, SessionStore, new_session_id


class RunSetupError(Exception):
    """Bad options or an unusable backend: nothing was run."""


@dataclass
class RunOptions:
    task: str | None
    repo: Path
    backend: str | None = None
    effort: str | None = None
    approval: str | None = None
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    max_steps: int = 50
    max_tokens: int | None = None
    max_wall_s: float | None = None
    json: bool = False
    resume: str | None = None  # a session id (or prefix), or "last"
    repo_map_tokens: int = 1024  # 0: no repository map in the system prompt
    context_limit: int = 100_000  # tokens; compaction starts at 80% of it (0: never)
    db_path: Path | None = None
    images: list[Path] = field(default_factory=list)  # attached to the task (or follow-up)


def attach_images(paths: list[Path]) -> list[dict]:
    """Validate and store each image by content hash; what a message event carries."""
    from agent import paths as data_paths
    from agent.attachments import AttachmentError, attach

    try:
        return attach(paths, data_paths.data_dir())
    except AttachmentError as exc:
        raise RunSetupError(f"--image: {exc}") from exc


def git_checkpointer(repo: Path, label: str) -> str:
    from tools.git.checkpoints import create_checkpoint
    from tools.git.repo import open_repo

    return create_checkpoint(open_repo(repo), label).id


def _rules(options: RunOptions, config: Config) -> list[Rule]:
    """Deny rules, then allow rules, from the config files and the command line."""
    try:
        return [
            *(Rule.parse(Verdict.DENY, spec) for spec in (*config.deny_rules, *options.deny)),
            *(Rule.parse(Verdict.ALLOW, spec) for spec in (*config.allow_rules, *options.allow)),
        ]
    except RuleError as exc:
        raise RunSetupError(str(exc)) from exc


def build_loop(
    options: RunOptions,
    emit: Callable[[ev.Event], None],
    backend_spec: str | None = None,
    *,
    approver: Approver | None = None,
    on_delta: Callable[[Delta], None] | None = None,
) -> tuple[AgentLoop, str]:
    """The loop a front end drives: `approver` None means headless (what asks is denied),
    `on_delta` receives the live stream for display (never stored)."""
    from agent.config import ConfigError, load_config
    from tools.base import ToolContext
    from tools.registry import default_tools

    repo = options.repo.resolve()
    if not repo.is_dir():
        raise RunSetupError(f"{repo} is not a directory")
    if options.max_steps < 1:
        raise RunSetupError("--max-steps must be at least 1")
    flags = {
        "backend.spec": backend_spec or options.backend,
        "approval.policy": options.approval,
        "agent.effort": options.effort,
    }
    try:
        config = load_config(repo, flags)
    except ConfigError as exc:
        raise RunSetupError(str(exc)) from exc
    try:
        backend = make_backend(config.backend)
    except BackendError as exc:
        raise RunSetupError(str(exc)) from exc
    from agent import paths

    settings = LoopSettings(
        repo=repo,
        tools=default_tools(),
        tool_context=ToolContext(
            repo, sandbox=config.sandbox_policy(), data_dir=paths.data_dir(),
            syntax_guard=config.syntax_guard,
        ),
        approval=ApprovalPolicy(config.approval, _rules(options, config), config.sandbox_mode),
        effort=EffortPolicy(config.effort),
        budgets=Budgets(options.max_steps, options.max_tokens, options.max_wall_s),
        checkpointer=git_checkpointer,
        compaction=CompactionSettings(options.context_limit) if options.context_limit else None,
        approver=approver,
        on_delta=on_delta,
    )
    for warning in config.warnings:
        print(f"tessera: {warning}", file=sys.stderr)
    return AgentLoop(backend, settings, emit), config.backend


async def run_headless(options: RunOptions, out: TextIO | None = None) -> ev.Finish:
    out = out or sys.stdout
    store = SessionStore(options.db_path)
    try:
        return await _run(options, store, out)
    finally:
        store.close()


async def _run(options: RunOptions, store: SessionStore, out: TextIO) -> ev.Finish:
    from agent.resume import CannotResume, finish_interrupted_calls, replayed_turns, restore

    session_id: str
    stored: list[ev.Event] = []
    backend_spec = None
    if options.resume:
        try:
            session_id = store.resolve(options.resume)
            stored = store.events(session_id)
        except SessionNotFound as exc:
            raise RunSetupError(str(exc)) from exc
        if stored and isinstance(stored[0], ev.SessionStart):
            # A resumed session keeps its settings unless the command line changes them.
            start = stored[0]
            backend_spec = None if options.backend else start.backend
            options.approval = options.approval or start.approval
            options.effort = options.effort or start.effort
        # A run a budget (or an error) stopped picks up where it was; a finished one needs
        # something new to do.
        if isinstance(stored[-1], ev.Finish) and stored[-1].status == "done" and not options.task:
            raise RunSetupError(
                f"session {session_id} already finished; give a follow-up task to continue it"
            )
    elif not options.task:
        raise RunSetupError("give a task, or --resume SESSION / --last")
    else:
        session_id = new_session_id()

    def emit(event: ev.Event) -> None:
        store.append(session_id, event)  # stored before it is shown
        if options.json:
            out.write(event.to_json() + "\n")
        else:
            render_human(event, out)
        out.flush()

    if options.images and not options.task:
        raise RunSetupError("--image needs a task or a follow-up to go with it")
    images = attach_images(options.images)
    loop, spec = build_loop(options, emit, backend_spec)
    if not stored:
        from agent import paths

        repo = options.repo.resolve()
        context = build_system_context(
            repo, Path.cwd(), repo_map_tokens=options.repo_map_tokens,
            cache_dir=paths.data_dir() / "cache",
        )
        start = ev.SessionStart(
            session_id, options.task or "", str(options.repo.resolve()), spec,
            loop.settings.effort.mode, loop.settings.approval.mode,
            context.prompt, context.instruction_files, images,
        )
        return await loop.run(start)
    try:
        restore(loop, stored)
    except CannotResume as exc:
        raise RunSetupError(str(exc)) from exc
    skip = getattr(loop.backend, "skip", None)
    if skip is not None:
        skip(replayed_turns(stored))
    await finish_interrupted_calls(loop)
    if options.task:
        loop.add_user_message(options.task, images)
    return await loop.continue_run()
