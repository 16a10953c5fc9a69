"""`tessera map [--repo DIR] [--tokens N] [--focus PATH...]`: the repository map the model sees."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository (default: cwd)")
    parser.add_argument("--tokens", type=int, default=2048, help="token budget (default 2048)")
    parser.add_argument(
        "--focus", nargs="+", default=[], metavar="PATH", help="files, directories or identifiers"
    )
    parser.add_argument("--stats", action="store_true", help="print timings and counts to stderr")
    parser.add_argument("--no-cache", action="store_true", help="keep tags in memory only")


def run(args: argparse.Namespace) -> int:
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
    progress = ParseProgress(sys.stderr)
    result = repo_map(repo, args.tokens, focus=focus, cache_dir=cache_dir, progress=progress)
    progress.finish()
    sys.stdout.write(result.text)
    if args.stats:
        stats = dict(result.stats, tokens=result.tokens, shown_files=len(result.files),
                     shown_definitions=result.definitions,
                     wall_s=time.perf_counter() - started)  # fmt: skip
        for key, value in stats.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"{key}: {shown}", file=sys.stderr)
    return 0


class ParseProgress:
    """`parsing files: 1,234 / 26,900` on stderr once parsing has taken a second (a warm
    map never shows it): redrawn in place on a terminal, a line every few seconds else."""

    DELAY_S = 1.0

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.clock = stream, clock
        self.started = clock()
        self.shown_at: float | None = None
        self.last: tuple[int, int] | None = None
        self.redraw = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        self.last = (done, total)
        if now - self.started < self.DELAY_S:
            return
        if (
            not self.redraw
            and self.shown_at is not None
            and now - self.shown_at < 5
            and done < total
        ):
            return
        self.shown_at = now
        line = f"parsing files: {done:,} / {total:,}"
        self.stream.write(f"\r{line}" if self.redraw else f"{line}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.shown_at is not None and self.redraw:
            self.stream.write("\n")
            self.stream.flush()


def _focus_relative(repo: Path, item: str) -> str:
    """Paths typed relative to the shell's directory become repository paths."""
    candidate = Path(item).expanduser()
    if candidate.exists():
        try:
            return candidate.resolve().relative_to(repo).as_posix()
        except ValueError:
            return item
    return item
