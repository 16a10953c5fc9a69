"""`tessera review [--repo DIR] [--base REF] [--json]`: the model reviews your changes.

The working tree (untracked files included) is diffed against `--base` (default HEAD)
and reviewed with read-only tools. Findings are printed as `file:line: severity:
message`, or with `--json` as one event per line (`finding` events; docs/events.md).
The session is stored like any run.

Exit status: 0 when the review finished without an `error` finding, 3 when it found at
least one (so CI can fail on it; a finding the model called `error` counts even when it
was rejected, e.g. for a wrong line), 2 when a budget ended it, 1 when it could not run
or its answer could not be read.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

EXIT_FINDINGS = 3
_FENCE = re.compile(r"```[ \t]*json[ \t]*\n.*?```", re.DOTALL | re.IGNORECASE)


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=None, help="repository (default: cwd)")
    parser.add_argument("--base", default="HEAD", help="commit to compare with (default HEAD)")
    parser.add_argument("--backend", help="replay:FILE, local or openai:URL")
    parser.add_argument("--max-steps", type=int, default=20,
                        help="model steps the review may take (default 20)")
    parser.add_argument("--repo-map-tokens", type=int, default=1024, metavar="N",
                        help="size of the repository map in the system prompt (0: none)")
    parser.add_argument("--json", action="store_true", help="one JSON event per line")


def run(args: argparse.Namespace) -> int:
    import asyncio

    try:
        return asyncio.run(_review(args))
    except _SetupError as exc:
        print(f"tessera review: {exc}")
        return 1


class _SetupError(Exception):
    pass


async def _review(args: argparse.Namespace) -> int:
    import sys

    from agent import events as ev
    from agent.render import render_human
    from agent.review import run_review
    from agent.session_driver import SessionSetupError
    from tools.git.repo import GitError, NotAGitRepo

    repo = (args.repo or Path.cwd()).resolve()
    if not repo.is_dir():
        raise _SetupError(f"{repo} is not a directory")
    out = sys.stdout
    assessment: list[str] = []

    def show(event: ev.Event) -> None:
        if args.json:
            out.write(event.to_json() + "\n")
        elif isinstance(event, ev.SessionStart):
            out.write(f"review {event.session_id} of {repo} against {args.base} "
                      f"({event.backend})\n")
        elif isinstance(event, ev.Text):
            assessment[:] = [event.text]  # the last step's text is the review
        elif isinstance(event, (ev.ToolCall, ev.Finding, ev.Error, ev.Finish)):
            if assessment and not isinstance(event, ev.ToolCall):
                # The model's overall words first, without the JSON block listed below.
                out.write(_FENCE.sub("", assessment.pop()).strip() + "\n\n")
            render_human(event, out)
        out.flush()

    try:
        report = await run_review(
            repo, args.base, args.backend, show, max_steps=args.max_steps,
            repo_map_tokens=args.repo_map_tokens, workdir=Path.cwd(),
        )
    except (SessionSetupError, NotAGitRepo, GitError, ValueError) as exc:
        raise _SetupError(str(exc)) from exc
    if report.status != "done":
        return {"budget": 2, "stuck": 2, "cancelled": 130}.get(report.status, 1)
    return EXIT_FINDINGS if report.errors or report.rejected_errors else 0
