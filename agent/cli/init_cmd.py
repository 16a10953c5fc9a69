"""`tessera init`: the model studies the repository and writes AGENTS.md, after you have
seen the diff and said yes (agent/agents_init.py). Exit 0 when it was written, 1 when
it was not (denied, or the model never wrote it), else as `tessera run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.approval import CallFacts
    from agent.calls import Approver
    from agent.events import ToolCall


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=None, help="repository (default: cwd)")
    parser.add_argument("--backend", help="replay:FILE, local or openai:URL")
    parser.add_argument("--yes", action="store_true",
                        help="write AGENTS.md without asking (the diff is still printed)")
    parser.add_argument("--max-steps", type=int, default=30, help="step budget (default 30)")
    parser.add_argument("--json", action="store_true", help="one JSON event per line")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from agent import events as ev
    from agent.agents_init import INIT, INIT_TASK
    from agent.cli.run import EXIT_CODES
    from agent.headless import printer
    from agent.session_driver import SessionDriver, SessionOptions, SessionSetupError

    repo = (args.repo or Path.cwd()).resolve()
    options = SessionOptions(repo, backend=args.backend, max_steps=args.max_steps,
                             workdir=Path.cwd())
    driver = SessionDriver(options, INIT, approver=_ask_on_terminal(args.yes))
    driver.subscribe(printer(sys.stdout, args.json))
    written: list[bool] = []
    driver.subscribe(lambda event: written.append(True) if isinstance(event, ev.ToolResult)
                     and event.name == "write_agents_md" and event.ok else None)
    try:
        finish = asyncio.run(driver.start(INIT_TASK))
    except SessionSetupError as exc:
        print(f"tessera init: {exc}")
        return 1
    finally:
        driver.close()
    if finish.status == "done" and not written:
        print(f"tessera init: {repo / 'AGENTS.md'} was not written", file=sys.stderr)
        return 1
    return EXIT_CODES.get(finish.status, 1)


def _ask_on_terminal(yes: bool) -> Approver:
    """The approver: the diff was printed with the approval request; y writes it."""
    import asyncio

    async def approve(facts: CallFacts, call: ToolCall) -> str:
        if yes:
            return "once"
        if not sys.stdin.isatty():
            print("tessera init: no terminal to ask on; AGENTS.md not written "
                  "(run it in a terminal, or with --yes)", file=sys.stderr)
            return "deny"
        answer = await asyncio.to_thread(input, "Write AGENTS.md with this diff? [y/N] ")
        return "once" if answer.strip().lower() in ("y", "yes") else "deny"

    return approve
