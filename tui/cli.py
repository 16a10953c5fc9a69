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
    parser.add_argument(
        "--inline",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run under the shell prompt, finished turns in the terminal's scrollback "
        "(default: [tui] inline, normally off)",
    )
    parser.add_argument(
        "--mouse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="capture the mouse (default: [tui] mouse, normally on); --no-mouse leaves "
        "selection to the terminal",
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
    from tui.terminal_io import TerminalPrefs

    terminal = TerminalPrefs(
        inline=config.tui_inline if args.inline is None else args.inline,
        mouse=config.tui_mouse if args.mouse is None else args.mouse,
        notify=config.tui_notify,
    )
    onboarding = not resume and needs_onboarding(config, args.backend, engine_running())
    app = TesseraApp(options, onboarding=onboarding, terminal=terminal)
    app.run(inline=terminal.inline, mouse=terminal.mouse)
    if terminal.inline:
        sys.stdout.write(app.unwritten_scrollback())  # a turn cut short by leaving
        sys.stdout.flush()
    return 0
