"""`tessera map [--repo DIR] [--tokens N] [--focus PATH...]`: the repository map the model sees."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository (default: cwd)")
    parser.add_argument("--tokens", type=int, default=2048, help="token budget (default 2048)")
    parser.add_argument(
        "--focus", nargs="+", default=[], metavar="PATH", help="files, directories or identifiers"
    )
    parser.add_argument("--stats", action="store_true", help="print timings and counts to stderr")
    parser.add_argument("--no-cache", action="store_true", help="keep tags in memory only")


def run(args: argparse.Namespace) -> int:
    import time

    from agent import paths

    started = time.perf_counter()
    from tools.codeintel.repo_map import repo_map

    repo = args.repo.resolve()
    if not repo.is_dir():
        print(f"tessera map: {repo} is not a directory", file=sys.stderr)
        return 2
    if args.tokens < 1:
        print("tessera map: --tokens must be positive", file=sys.stderr)
        return 2
    focus = [_focus_relative(repo, item) for item in args.focus]
    cache_dir = None if args.no_cache else paths.data_dir() / "cache"
    result = repo_map(repo, args.tokens, focus=focus, cache_dir=cache_dir)
    sys.stdout.write(result.text)
    if args.stats:
        stats = dict(result.stats, tokens=result.tokens, shown_files=len(result.files),
                     shown_definitions=result.definitions,
                     wall_s=time.perf_counter() - started)  # fmt: skip
        for key, value in stats.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"{key}: {shown}", file=sys.stderr)
    return 0


def _focus_relative(repo: Path, item: str) -> str:
    """Paths typed relative to the shell's directory become repository paths."""
    candidate = Path(item).expanduser()
    if candidate.exists():
        try:
            return candidate.resolve().relative_to(repo).as_posix()
        except ValueError:
            return item
    return item
