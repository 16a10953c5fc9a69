"""`tessera` / `tessera chat`: the terminal UI.

`agent.cli` names this module by its path (the UI is the layer above the agent, so the
agent never imports it). Textual is imported inside `run`, so `--help` stays instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=None, help="repository (default: cwd)")
    parser.add_argument("--backend", help="replay:FILE, local or openai:URL (default: config)")
    parser.add_argument("--effort", choices=("auto", "none", "high"), help="reasoning effort")
    parser.add_argument(
        "--approval",
        choices=("read-only", "ask", "auto-edit", "auto"),
        help="approval policy (default: config, normally ask)",
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", metavar="SESSION", help="continue a stored session")
    resume.add_argument("--last", action="store_true", help="continue the latest session")


def run(args: argparse.Namespace) -> int:
    import sys

    from agent.config import ConfigError, load_config
    from tui.onboarding import engine_running, needs_onboarding
    from tui.session import ChatOptions

    repo = (args.repo or Path.cwd()).resolve()
    if not repo.is_dir():
        print(f"tessera chat: {repo} is not a directory", file=sys.stderr)
        return 1
    try:
        config = load_config(repo, {"backend.spec": args.backend})
    except ConfigError as exc:
        print(f"tessera chat: {exc}", file=sys.stderr)
        return 1
    resume = "last" if args.last else args.resume
    options = ChatOptions(
        repo=repo,
        backend=args.backend,
        resume=resume,
        approval=args.approval,
        effort=args.effort,
    )
    from tui.app import TesseraApp

    onboarding = not resume and needs_onboarding(config, args.backend, engine_running())
    app = TesseraApp(options, onboarding=onboarding)
    app.run()
    return 0
