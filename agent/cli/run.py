"""`tessera run "TASK"`: one task, headless, to the end.

Exit status: 0 when the model finishes, 2 when a budget ends the run (or it got stuck),
1 on error. `--json` prints one event per line (schema: docs/events.md); otherwise a
short human transcript. Every event is stored in the session database before it is
printed, so `--resume` can continue any run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_CODES = {"done": 0, "budget": 2, "stuck": 2, "error": 1, "cancelled": 130}


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("task", nargs="?", help="what to do (with --resume: a follow-up); "
                        "\"/NAME args\" runs the custom command NAME (docs/commands.md)")
    parser.add_argument("--repo", type=Path, default=None, help="repository (default: cwd)")
    parser.add_argument("--backend", help="replay:FILE, local or openai:URL")
    parser.add_argument("--effort", choices=("auto", "none", "high"), help="reasoning effort")
    parser.add_argument(
        "--approval", choices=("read-only", "ask", "auto-edit", "auto"),
        help="approval policy; headless runs deny what would ask",
    )
    parser.add_argument("--allow", action="append", default=[], metavar="RULE",
                        help="allow rule: tool=NAME,command=PREFIX,path=GLOB (repeatable)")
    parser.add_argument("--deny", action="append", default=[], metavar="RULE",
                        help="deny rule, same form; deny rules always win (repeatable)")
    parser.add_argument("--max-steps", type=int, default=50,
                        help="step budget of this run (default 50; a resumed run gets a fresh one)")
    parser.add_argument("--max-tokens", type=int, help="token budget: uncached prompt + generated")
    parser.add_argument("--max-time", type=float, help="wall-time budget in seconds")
    parser.add_argument("--repo-map-tokens", type=int, default=1024, metavar="N",
                        help="size of the repository map in the system prompt (0: none)")
    parser.add_argument("--context-limit", type=int, default=None, metavar="TOKENS",
                        help="compact older turns at 80%% of this (default: the model's context "
                             "as the server states it, else 32768; 0: never)")
    parser.add_argument("--image", action="append", default=[], type=Path, metavar="PATH",
                        help="attach an image (PNG, JPEG, WebP, GIF) to the task (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON event per line")
    parser.add_argument("--worktree", action="store_true",
                        help="work in a new git worktree (branch tessera/SESSION) from your "
                        "tree as it is; `tessera apply SESSION` brings the changes back")
    parser.add_argument("--no-verify", action="store_true",
                        help="do not run the [verify] commands after steps that change files")
    parser.add_argument("--plan", action="store_true",
                        help="plan mode: read-only tools; print the model's plan and stop")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", metavar="SESSION", help="continue a stored session")
    resume.add_argument("--last", action="store_true", help="continue the latest session")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from agent.headless import RunOptions, run_headless
    from agent.session_driver import SessionSetupError

    options = RunOptions(
        task=args.task,
        repo=(args.repo or Path.cwd()),
        workdir=Path.cwd(),
        backend=args.backend,
        effort=args.effort,
        approval=args.approval,
        allow=args.allow,
        deny=args.deny,
        max_steps=args.max_steps,
        max_tokens=args.max_tokens,
        max_wall_s=args.max_time,
        json=args.json,
        resume="last" if args.last else args.resume,
        repo_map_tokens=args.repo_map_tokens,
        context_limit=args.context_limit,
        images=args.image,
        worktree=args.worktree,
        verify=not args.no_verify,
        plan=args.plan,
    )
    try:
        finish = asyncio.run(run_headless(options))
    except SessionSetupError as exc:
        print(f"tessera run: {exc}")
        return 1
    return EXIT_CODES.get(finish.status, 1)
