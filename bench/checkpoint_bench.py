"""Checkpoint and restore time on a repository the size of Django (2,818 Python files).

A deterministic synthetic tree (~9 MB) is committed, then dirtied like a working
session: each "step" modifies 50 files, adds 20 and deletes 10. Printed: medians of
create_checkpoint on a clean tree, on a dirty tree, unchanged since the last checkpoint,
and right after a step (new contents to store), and of restore_checkpoint after a step
plus an `rm -rf` of a folder; each beside `git status` on the same tree.

    .venv/bin/python bench/checkpoint_bench.py [--runs 5] [--files 2818]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.git import open_repo
from tools.git.checkpoints import create_checkpoint, restore_checkpoint

WORDS = [
    "value",
    "result",
    "index",
    "item",
    "data",
    "config",
    "request",
    "response",
    "handler",
    "model",
    "field",
    "name",
]


def _python_file(rng: random.Random, target_bytes: int) -> str:
    lines = ['"""Synthetic module."""', "", "import os", "from typing import Any", ""]
    size = sum(len(line) + 1 for line in lines)
    n = 0
    while size < target_bytes:
        n += 1
        name = f"{rng.choice(WORDS)}_{n}"
        block = [
            f"def {name}({rng.choice(WORDS)}: Any, {rng.choice(WORDS)}: int = {n}) -> Any:",
            f'    """Return the {rng.choice(WORDS)} for {rng.choice(WORDS)}."""',
            f"    if {rng.choice(WORDS)} is None:",
            f"        return {rng.randint(0, 10_000)}",
            f"    return {rng.choice(WORDS)}.get({rng.choice(WORDS)!r}, {n})",
            "",
        ]
        lines += block
        size += sum(len(line) + 1 for line in block)
    return "\n".join(lines) + "\n"


def generate_tree(root: Path, files: int, seed: int = 2818) -> list[Path]:
    """Django-like layout: ~300 packages, sizes log-normal around 2 kB (a few MB total)."""
    rng = random.Random(seed)
    packages = [Path("project")]
    while len(packages) < max(1, files // 9):
        parent = rng.choice(packages)
        if len(parent.parts) < 5:
            packages.append(parent / f"{rng.choice(WORDS)}{len(packages)}")
    written = []
    for i in range(files):
        package = packages[i % len(packages)]
        path = root / package / ("__init__.py" if i < len(packages) else f"mod_{i}.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_python_file(rng, int(min(40_000, rng.lognormvariate(7.6, 0.9)))))
        written.append(path)
    return written


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-C", str(root), *args],
        check=True,
        capture_output=True,
    )


def agent_step(rng: random.Random, files: list[Path], modify: int, add: int, delete: int) -> None:
    """Modify, add and delete files, as a session does."""
    existing = [f for f in files if f.exists() and f.name != "__init__.py"]
    for path in rng.sample(existing, modify):
        text = path.read_text()
        path.write_text(text.replace("return", "return  # edited", 3) + "# tail edit\n")
    for i in range(add):
        target = rng.choice(existing).parent / f"new_{rng.randint(0, 10**9)}_{i}.py"
        target.write_text(_python_file(rng, 2000))
    for path in rng.sample([f for f in existing if f.exists()], delete):
        path.unlink()


def median_time(
    fn: Callable[[], object], runs: int, before: Callable[[], object] | None = None
) -> float:
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=2818)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tessera-ckpt-bench-"))
    try:
        root = tmp / "repo"
        root.mkdir()
        start = time.perf_counter()
        files = generate_tree(root, args.files)
        total = sum(f.stat().st_size for f in files)
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "base")
        print(
            f"tree: {len(files)} .py files, {total / 1e6:.1f} MB, "
            f"generated and committed in {time.perf_counter() - start:.1f} s"
        )
        repo = open_repo(root)
        rng = random.Random(7)
        rows: list[tuple[str, int, float, float]] = []

        def status() -> int:
            out = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
                capture_output=True,
                check=True,
            ).stdout
            return out.count(b"\n")

        def measure(
            name: str, fn: Callable[[], object], before: Callable[[], object] | None = None
        ) -> None:
            seconds = median_time(fn, args.runs, before)
            rows.append((name, status(), seconds, median_time(status, args.runs)))

        def step() -> None:
            agent_step(rng, files, modify=50, add=20, delete=10)

        measure("checkpoint, clean tree", lambda: create_checkpoint(repo, "clean"))
        step()
        measure("checkpoint, 50 mod / 20 new / 10 del", lambda: create_checkpoint(repo, "dirty"))
        measure("checkpoint, unchanged since last", lambda: create_checkpoint(repo, "again"))
        # Each run after a fresh step: new contents, so new objects must be written.
        measure("checkpoint right after a new step", lambda: create_checkpoint(repo, "step"), step)

        target = create_checkpoint(repo, "restore target")
        folder = max({f.parent for f in files}, key=lambda d: len(list(d.glob("*.py"))))
        removed = len(list(folder.glob("*.py")))

        def damage() -> None:
            step()
            subprocess.run(["rm", "-rf", str(folder)], check=True)

        measure(
            f"restore after a step + rm -rf of {removed} files",
            lambda: restore_checkpoint(repo, target.id),
            damage,
        )
        print(f"{'operation':<46} {'dirty':>5} {'median':>8} {'git status':>11} {'ratio':>6}")
        for name, dirty, seconds, floor in rows:
            print(
                f"{name:<46} {dirty:>5} {seconds * 1000:>6.0f}ms {floor * 1000:>9.0f}ms"
                f" {seconds / floor:>5.1f}x"
            )
        print(
            f"(median of {args.runs} runs each; dirty = files git status lists afterwards; "
            "git status on the same tree is the floor for any 'what changed' question)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
