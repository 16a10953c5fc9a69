"""`tessera trust [--repo DIR] [--revoke]`: let a repository's own config loosen settings."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository (default: cwd)")
    parser.add_argument("--revoke", action="store_true", help="stop trusting the repository")
    parser.add_argument("--list", action="store_true", help="list trusted repositories")


def run(args: argparse.Namespace) -> int:
    from agent import config

    if args.list:
        for path in config.trusted_paths():
            print(path)
        return 0
    repo = args.repo.resolve()
    if not repo.is_dir():
        print(f"tessera trust: {repo} is not a directory")
        return 2
    config.set_trusted(repo, not args.revoke)
    if args.revoke:
        print(f"{repo} is no longer trusted: its .tessera/config.toml can only tighten settings.")
    else:
        print(
            f"{repo} is trusted: its .tessera/config.toml may now loosen the sandbox, the network "
            "and the approval policy, and choose the backend."
        )
    return 0
