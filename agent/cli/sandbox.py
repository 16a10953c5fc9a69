"""`tessera sandbox [options] -- CMD [ARGS...]`: run one command as the bash tool would.

Same configuration (user, project, environment, these flags), same policy, same sandbox.
A single CMD argument is a shell command line run with `bash -c`, exactly like the tool;
several arguments run as that argv, with no shell. Exits with the command's exit code,
124 when it timed out, 137 when killed for its output, 125 when the sandbox failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODES = ("read-only", "workspace-write", "full-access")


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=None, help="writable workspace (default: cwd)")
    parser.add_argument("--mode", choices=MODES, default=None, help="sandbox mode")
    parser.add_argument("--network", action="store_true", default=None, help="allow network access")
    parser.add_argument(
        "--strict-unix", action="store_true", default=None, help="also deny unix sockets"
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds before it is killed")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")


def run(args: argparse.Namespace) -> int:
    from agent.config import ConfigError, load_config
    from tools.sandbox.runner import run_command

    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("tessera sandbox: no command given (usage: tessera sandbox -- CMD [ARGS...])",
              file=sys.stderr)  # fmt: skip
        return 2
    repo = (args.repo or Path.cwd()).resolve()
    if not repo.is_dir():
        print(f"tessera sandbox: {repo} is not a directory", file=sys.stderr)
        return 2
    flags = {
        "sandbox.mode": args.mode,
        "sandbox.network": args.network,
        "sandbox.strict_unix": args.strict_unix,
        "sandbox.timeout": args.timeout,
    }
    try:
        config = load_config(repo, flags)
    except ConfigError as exc:
        print(f"tessera sandbox: {exc}", file=sys.stderr)
        return 2
    for warning in config.warnings:
        print(f"tessera sandbox: {warning}", file=sys.stderr)
    command: str | list[str] = argv[0] if len(argv) == 1 else argv
    result = run_command(command, repo=repo, policy=config.sandbox_policy())

    sys.stdout.write(result.output)
    sys.stdout.flush()
    if not result.sandboxed:
        print("[tessera] sandbox OFF: " + "; ".join(result.notes or ["no isolation"]),
              file=sys.stderr)  # fmt: skip
    if result.truncated:
        print(f"[tessera] output truncated ({result.output_bytes} bytes written)", file=sys.stderr)
    if result.killed_reason:
        print(f"[tessera] {result.killed_reason}", file=sys.stderr)
    if result.timed_out:
        return 124
    if result.exit_code is None:
        return 125 if result.killed_reason == "sandbox setup failed" else 137
    return result.exit_code
