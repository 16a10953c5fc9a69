"""Worktree runs on a repository the size of Django (2,818 Python files): the time to
create a run's worktree from a tree with uncommitted and untracked changes, and to apply
a 50-file change back into it (three-way, with 20 other files edited by the user meanwhile).

The tree is the synthetic one of bench/checkpoint_bench.py (deterministic, ~9 MB, a
Django-like layout), generated in a temp dir; `--source DIR` copies a real tree instead
(e.g. the unpacked Django 5.2 sdist: `pip download django==5.2 --no-deps --no-binary
:all:`, 6,869 files). Printed: medians of

- create: tools.git.worktrees.create_worktree (snapshot of the user's tree, start-point
  commit, `git worktree add`, byte check) beside plain `git worktree add --detach HEAD`
  (a worktree of the last commit only: no uncommitted changes, no check);
- apply: saving the run's worktree as a commit plus tools.git.apply.apply_changes
  (checkpoint, merge-tree, writing the files) beside `git diff | git apply` of the same
  change (two-way, no checkpoint, no untracked files of the user's considered).

    python bench/worktree_bench.py [--runs 5] [--files 2818] [--source DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.checkpoint_bench import agent_step, generate_tree, git
from bench.timing import summary, time_call
from tools.git import open_repo
from tools.git.apply import apply_changes
from tools.git.checkpoints import restore_checkpoint
from tools.git.worktrees import create_worktree, remove_worktree, result_commit


def build(root: Path, files: int, source: Path | None) -> list[Path]:
    if source is not None:
        shutil.copytree(source, root, ignore=shutil.ignore_patterns(".git"))
        written = [p for p in root.rglob("*") if p.is_file()]
    else:
        root.mkdir()
        written = generate_tree(root, files)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "base")
    return written


def change_files(files: list[Path], marker: str) -> None:
    """Append a line to each file."""
    for path in files:
        with path.open("a") as handle:
            handle.write(f"# {marker}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=2818)
    parser.add_argument("--source", type=Path, help="copy this tree instead of generating one")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tessera-worktree-bench-"))
    try:
        root = tmp / "repo"
        start = time.perf_counter()
        files = build(root, args.files, args.source)
        total = sum(f.stat().st_size for f in files)
        rng = random.Random(20)
        sources = [f for f in files if f.suffix == ".py"]  # text to edit, in a real tree too
        agent_step(rng, sources, modify=20, add=10, delete=0)  # the user's uncommitted work
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"],
                               capture_output=True, check=True).stdout.count(b"\n")
        kind = f"copy of {args.source}" if args.source else "generated (bench/checkpoint_bench)"
        print(f"tree: {len(files)} files ({kind}), {total / 1e6:.1f} MB, {dirty} uncommitted "
              f"or untracked; built in {time.perf_counter() - start:.1f} s")
        repo = open_repo(root)
        create, plain_add = [], []
        for n in range(args.runs):
            started = time.perf_counter()
            made = create_worktree(repo, tmp / "wts" / f"run{n}", f"tessera/bench{n}")
            create.append(time.perf_counter() - started)
            remove_worktree(repo, made, branch=True)
            plain = tmp / "plain" / f"p{n}"
            plain_add.append(time_call(lambda plain=plain: git(
                root, "worktree", "add", "-q", "--detach", str(plain), "HEAD")))
            git(root, "worktree", "remove", "--force", str(plain))

        run = create_worktree(repo, tmp / "wts" / "apply", "tessera/apply")
        linked = Path(run.path)
        present = [f.relative_to(root) for f in sources if f.exists()]
        chosen = random.Random(50).sample(present, 70)
        change_files([linked / rel for rel in chosen[:50]], "changed by the run")
        change_files([root / rel for rel in chosen[50:]], "the user's edit meanwhile")
        apply_times, git_apply = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            outcome = apply_changes(repo, run.base, result_commit(repo, run), "bench apply")
            apply_times.append(time.perf_counter() - started)
            assert len(outcome.written) == 50, outcome.written
            restore_checkpoint(repo, outcome.checkpoint.id)
            patch = subprocess.run(["git", "-C", str(root), "diff", run.base, "tessera/apply"],
                                   capture_output=True, check=True).stdout
            git_apply.append(time_call(lambda patch=patch: subprocess.run(
                ["git", "-C", str(root), "apply"], input=patch, check=True)))
            subprocess.run(["git", "-C", str(root), "apply", "-R"], input=patch, check=True)
        rows = [
            ("create a worktree (uncommitted + untracked)", create),
            ("  baseline: git worktree add --detach HEAD", plain_add),
            ("apply a 50-file change (three-way, checkpoint)", apply_times),
            ("  baseline: git diff | git apply (two-way)", git_apply),
        ]
        for name, values in rows:
            print(f"{name:<48} {summary(values)}")
        ratio_create = median(create) / median(plain_add)
        ratio_apply = median(apply_times) / median(git_apply)
        print(f"ratios to the baselines: create {ratio_create:.1f}x, apply {ratio_apply:.1f}x "
              f"(median of {args.runs} runs each)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
