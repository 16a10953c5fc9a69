"""Checkpoint and restore time on a repository the size of Django (2,818 Python files).

A deterministic synthetic tree is committed, then dirtied like a working session (50
files modified, 20 added, 10 deleted). Printed: medians of create_checkpoint (dirty
tree, clean tree, and unchanged since the last checkpoint) and of restore_checkpoint
after an agent step (edits, deletions, `rm -rf` of a folder), each beside `git status`
on the same tree as the floor any "what changed" question costs.

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
        status = lambda: git(root, "status", "--porcelain")  # noqa: E731
        rows = []

        rows.append(
            (
                "checkpoint, clean tree",
                median_time(lambda: create_checkpoint(repo, "clean"), args.runs),
                median_time(status, args.runs),
            )
        )

        rng = random.Random(7)
        agent_step(rng, files, modify=50, add=20, delete=10)
        rows.append(
            (
                "checkpoint, 50 mod / 20 new / 10 del",
                median_time(lambda: create_checkpoint(repo, "dirty"), args.runs),
                median_time(status, args.runs),
            )
        )

        create_checkpoint(repo, "baseline")
        rows.append(
            (
                "checkpoint, unchanged since last",
                median_time(lambda: create_checkpoint(repo, "again"), args.runs),
                median_time(status, args.runs),
            )
        )

        target = create_checkpoint(repo, "restore target")
        folder = max({f.parent for f in files}, key=lambda d: len(list(d.glob("*.py"))))

        def damage() -> None:
            agent_step(rng, files, modify=50, add=20, delete=10)
            subprocess.run(["rm", "-rf", str(folder)], check=True)

        restore_s = median_time(lambda: restore_checkpoint(repo, target.id), args.runs, damage)
        rows.append(
            (
                f"restore after step (+ rm -rf {len(list(folder.glob('*.py')))} files)",
                restore_s,
                median_time(status, args.runs),
            )
        )
        print(f"{'operation':<44} {'median':>9} {'git status':>11} {'ratio':>6}")
        for name, seconds, floor in rows:
            print(
                f"{name:<44} {seconds * 1000:>7.0f}ms {floor * 1000:>9.0f}ms"
                f" {seconds / floor:>5.1f}x"
            )
        print(f"(median of {args.runs} runs each)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
