"""The `tessera` command line: parses arguments and hands off.

Each command lives in its own module with `configure(parser)` and `run(args) -> int`.
Only the chosen command's module is imported, and heavy libraries (torch, vllm,
textual) are imported inside `run`, so `tessera --help` stays instant.

Commands are named by module path strings: `chat` lives in `tui.cli`, since the terminal
UI is a layer above this one (see `.importlinter`) and nothing here may import it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name → (module, one-line help); a leading dot means a module of this package, as in a
# relative import. The default command is `chat`.
COMMANDS: dict[str, tuple[str, str]] = {
    "chat": ("tui.cli", "chat in the terminal UI (the default)"),
    "doctor": (".doctor", "check Python, engine packages, sandbox layers and git"),
    "sandbox": (".sandbox", "run one command exactly as the agent's shell tool would"),
    "trust": (".trust", "let a repository's own config loosen sandbox or approvals"),
    "checkpoints": (".checkpoints", "list the git checkpoints taken before agent changes"),
    "undo": (".checkpoints", "restore the working tree to a checkpoint"),
    "config": (".config_cmd", "show the effective configuration and where it came from"),
    "run": (".run", "run a task headless (exit 0 done, 2 budget, 1 error; --json events)"),
    "sessions": (".sessions", "list stored sessions (continue one with `run --resume ID`)"),
    "replay": (".replay", "run a stored session again from its recorded model output"),
    "review": (".review", "the model reviews the working tree's diff (exit 3 on error findings)"),
    "tasks": (".worktree_cmd", "list runs that worked in their own git worktree"),
    "apply": (".worktree_cmd", "bring a worktree run's changes into your tree (--hunks: choose)"),
    "discard": (".worktree_cmd", "remove a worktree run's worktree and branch"),
    "map": (".map_cmd", "print the repository map the model sees"),
    "init": (".init_cmd", "the model studies the repository and writes AGENTS.md (you approve)"),
    "mcp": (".mcp_cmd", "MCP servers: list, add, remove, test NAME (start it, list its tools)"),
    "model": (".model_cmd", "make, inspect and check model checkpoints"),
    "engine": (".engine", "start, check, stop the shared vLLM engine (start|status|stop|logs)"),
    "serve": (".engine", "run the vLLM engine in the foreground (for servers)"),
    "acp": (".acp_cmd", "speak the Agent Client Protocol on stdio, for editors (Zed, ...)"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tessera",
        description="Tessera: a local agentic coding assistant.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<12} {text}" for name, (_, text) in COMMANDS.items())
        + "\n\nRun `tessera COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version="tessera 0.1.0")
    parser.add_argument("command", nargs="?", default="chat", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    if command is None:
        if any(a in ("-h", "--help", "--version") for a in argv):
            _top_parser().parse_args(argv)
            return 0
        command, rest = "chat", argv
    else:
        rest = argv[1:]
    if command not in COMMANDS:
        _top_parser().error(f"unknown command {command!r} (see `tessera --help`)")
    module_name, help_text = COMMANDS[command]
    module = importlib.import_module(module_name, package=__name__)
    parser = argparse.ArgumentParser(prog=f"tessera {command}", description=help_text)
    module.configure(parser, command)
    args = parser.parse_args(rest)
    args.command = command
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
