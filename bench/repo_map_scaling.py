"""Repo map scaling: Django, Home Assistant, and four Home Assistants side by side.

    python -m bench.repo_map_scaling [--runs N] [--tokens N] [--trees django,ha,ha4]
                                     [--against REV [--against-trees django]]

The trees are built from PyPI on first use, under a cache directory outside the
repository ($TESSERA_BENCH_CACHE, default ~/.cache/tessera-bench/repo-map): the Django 5.2
sdist, the Home Assistant 2024.3.3 wheel unpacked, and four copies of that side by side
(a monorepo full of same-named definitions); each is a git repository with every file
committed. Each map is a fresh `tessera map --stats` process: cold in an empty data
directory, warm with the cache the cold run left, and again after one file was edited.
Printed per tree: medians of each, peak memory (the largest process, and the whole
process tree sampled every 20 ms, parse workers included), the ranking graph's edges
and the R×D file edges it stands for, and the load average during the runs.

`--against REV` runs the same maps with revision REV's code (a `git worktree` of it)
beside today's, interleaved, and compares the files shown in the two maps. aider's
figures are added when `aider` is on PATH (it is not a project dependency).
Targets (issue 25): 26,900 files cold ≤ 40 s, warm ≤ 1 s, peak ≤ 1.5 GB; Home Assistant
warm ≤ 0.4 s; Django no slower than before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DJANGO = "5.2"
HOME_ASSISTANT = "2024.3.3"
COPIES = 4


def cache_root() -> Path:
    default = Path.home() / ".cache" / "tessera-bench" / "repo-map"
    return Path(os.environ.get("TESSERA_BENCH_CACHE", default))


def _download(requirement: str, destination: Path, binary: bool) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    found = sorted(p for p in destination.iterdir() if p.suffix in (".gz", ".whl"))
    if not found:
        kind = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", *kind, requirement,
             "-d", str(destination)],
            check=True,
        )  # fmt: skip
        found = sorted(p for p in destination.iterdir() if p.suffix in (".gz", ".whl"))
    return found[0]


def _commit(tree: Path) -> None:
    """A git repository with every file committed: the map lists what git tracks."""
    git = ["git", "-C", str(tree), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A", "-f", "."], check=True)
    subprocess.run([*git, "commit", "-q", "--no-verify", "-m", "tree"], check=True)


def django_tree() -> Path:
    tree = cache_root() / "django"
    if not (tree / ".git").is_dir():
        archive = _download(f"django=={DJANGO}", cache_root() / "downloads" / "django", False)
        staging = Path(tempfile.mkdtemp(dir=cache_root()))
        with tarfile.open(archive) as sdist:
            sdist.extractall(staging, filter="data")
        shutil.rmtree(tree, ignore_errors=True)
        (staging / f"Django-{DJANGO}").rename(tree)
        shutil.rmtree(staging)
        _commit(tree)
    return tree


def _unpack_home_assistant(target: Path) -> None:
    wheel = _download(f"homeassistant=={HOME_ASSISTANT}", cache_root() / "downloads" / "ha", True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)


def home_assistant_tree() -> Path:
    tree = cache_root() / "home-assistant"
    if not (tree / ".git").is_dir():
        shutil.rmtree(tree, ignore_errors=True)
        _unpack_home_assistant(tree)
        _commit(tree)
    return tree


def monorepo_tree() -> Path:
    tree = cache_root() / f"home-assistant-x{COPIES}"
    if not (tree / ".git").is_dir():
        shutil.rmtree(tree, ignore_errors=True)
        for copy in range(1, COPIES + 1):
            _unpack_home_assistant(tree / f"copy-{copy}")
        _commit(tree)
    return tree


TREES = {"django": django_tree, "ha": home_assistant_tree, "ha4": monorepo_tree}
TREE_TITLES = {
    "django": f"Django {DJANGO} sdist",
    "ha": f"Home Assistant {HOME_ASSISTANT} wheel",
    "ha4": f"{COPIES} × Home Assistant {HOME_ASSISTANT}",
}


def tracked_python_files(tree: Path) -> int:
    listed = subprocess.run(
        ["git", "-C", str(tree), "ls-files", "*.py"], capture_output=True, text=True, check=True
    ).stdout
    return len(listed.splitlines())


def _tree_rss_kib(root_pid: int) -> int:
    """Resident memory of a process and all its descendants (from /proc)."""
    total, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return total


@dataclass
class Run:
    wall_s: float
    largest_process_mb: float  # the largest single process's peak (wait4's ru_maxrss)
    process_tree_mb: float  # the whole tree's peak, sampled
    stats: dict[str, str]
    stdout: str
    load: float  # 1-minute load average when the run ended
    cpu_s: float  # CPU seconds of the process and its parse workers


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kib(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = _drain(process)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{stderr[-2000:]}")
    stats = dict(line.split(": ", 1) for line in stderr.splitlines() if ": " in line)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(
        wall, usage.ru_maxrss / 1024, peak[0] / 1024, stats, stdout, os.getloadavg()[0], cpu
    )


def _drain(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Read both pipes to the end without reaping the process (wait4 does that)."""
    assert process.stdout is not None and process.stderr is not None
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    out = process.stdout.read()
    reader.join()
    return out, errors[0]


@dataclass
class Series:
    cold: list[Run] = field(default_factory=list)
    warm: list[Run] = field(default_factory=list)
    edited: list[Run] = field(default_factory=list)


def map_command(tree: Path, tokens: int) -> list[str]:
    return [sys.executable, "-m", "agent", "map", "--repo", str(tree), "--tokens", str(tokens),
            "--stats"]  # fmt: skip


@contextmanager
def revision_checkout(revision: str) -> Iterator[Path]:
    """A detached worktree of `revision`, removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="repo-map-against-"))
    checkout = parent / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(checkout), revision],
        check=True,
    )
    try:
        yield checkout
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], check=False
        )
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def one_file_edited(tree: Path) -> Iterator[None]:
    """Append a definition to one file of the tree; its content is restored afterwards."""
    listed = subprocess.run(
        ["git", "-C", str(tree), "ls-files", "*.py"], capture_output=True, text=True, check=True
    ).stdout.split()
    target = tree / listed[len(listed) // 2]
    original = target.read_bytes()
    target.write_bytes(original + b"\n\ndef bench_added_function(value):\n    return value\n")
    past = time.time_ns() - 10 * 10**9  # older than the cache's two-second mistrust
    os.utime(target, ns=(past, past))
    try:
        yield
    finally:
        target.write_bytes(original)


def measure(
    tree: Path, code: Path, tokens: int, scratch: Path, label: str, run: int, series: Series
) -> None:
    home = scratch / f"{label}-{run}"
    env = dict(os.environ, TESSERA_HOME=str(home))
    command = map_command(tree, tokens)
    series.cold.append(timed(command, code, env))
    for _ in range(2):
        series.warm.append(timed(command, code, env))
    with one_file_edited(tree):
        series.edited.append(timed(command, code, env))
    shutil.rmtree(home, ignore_errors=True)


def aider_series(tree: Path, tokens: int, runs: int) -> Series | None:
    aider = shutil.which("aider")
    if aider is None:
        return None
    series = Series()
    command = [aider, "--show-repo-map", "--map-tokens", str(tokens), "--no-check-update",
               "--no-analytics", "--yes-always"]  # fmt: skip
    env = dict(os.environ)
    for _ in range(runs):
        for cache in tree.glob(".aider.tags.cache*"):
            shutil.rmtree(cache, ignore_errors=True)
        series.cold.append(timed(command, tree, env))
        series.warm.append(timed(command, tree, env))
    for cache in tree.glob(".aider.tags.cache*"):
        shutil.rmtree(cache, ignore_errors=True)
    return series


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(title: str, series: Series) -> None:
    def seconds(runs: list[Run]) -> str:
        walls = ", ".join(f"{r.wall_s:.2f}" for r in runs)
        loads = ", ".join(f"{r.load:.1f}" for r in runs)
        cpu = _median([r.cpu_s for r in runs])
        return (
            f"median {_median([r.wall_s for r in runs]):7.3f} s  ({walls}; load {loads}; "
            f"CPU {cpu:.2f} s)"
        )

    print(f"  {title}")
    print(f"    cold        {seconds(series.cold)}")
    print(f"    warm        {seconds(series.warm)}")
    if series.edited:
        print(f"    one edit    {seconds(series.edited)}")
    for kind, runs in (("cold", series.cold), ("warm", series.warm)):
        largest = max(r.largest_process_mb for r in runs)
        whole = max(r.process_tree_mb for r in runs)
        print(f"    peak memory {kind}: largest process {largest:.0f} MB, "
              f"process tree {whole:.0f} MB")  # fmt: skip
    stats = series.cold[-1].stats
    if "edges" in stats:
        print(f"    edges {int(stats['edges']):,} (for {int(stats['file_edges']):,} file edges);"
              f" files {stats.get('files')}, "
              f"definitions {stats.get('definitions_total')}")  # fmt: skip
    for kind, runs in (("cold", series.cold), ("warm", series.warm)):
        detail = runs[-1].stats
        if "load_s" in detail:
            ranking = detail.get("ranking", "computed")
            print(f"    {kind} detail: load {detail['load_s']} s, list {detail.get('list_s')} s, "
                  f"refresh {detail.get('refresh_s')} s, rank {detail.get('rank_s')} s "
                  f"({ranking}), total {detail.get('total_s')} s")  # fmt: skip


def shown_files(map_text: str) -> list[str]:
    return [line[:-1] for line in map_text.splitlines() if line.endswith(":") and line[0] != " "]


def compare_maps(today: str, before: str) -> None:
    now, then = shown_files(today), shown_files(before)
    print(f"  files in the map: {len(now)} now, {len(then)} at the revision, "
          f"{len(set(now) & set(then))} in both")  # fmt: skip
    for path in sorted(set(now) - set(then)):
        print(f"    + {path}")
    for path in sorted(set(then) - set(now)):
        print(f"    - {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind (default 3)")
    parser.add_argument("--tokens", type=int, default=2048, help="map budget (default 2048)")
    parser.add_argument("--trees", default="django,ha,ha4", help="which trees (default all)")
    parser.add_argument("--against", metavar="REV", help="also time revision REV's map")
    parser.add_argument(
        "--against-trees", default="django", help="trees REV maps too (default django)"
    )
    args = parser.parse_args()
    names = [name for name in args.trees.split(",") if name]
    unknown = [name for name in names if name not in TREES]
    if unknown:
        parser.error(f"unknown trees {unknown}; choose from {sorted(TREES)}")
    against_names = set(args.against_trees.split(",")) if args.against else set()

    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()}")
    print(f"trees under {cache_root()}; map budget {args.tokens} tokens; {args.runs} runs")
    with tempfile.TemporaryDirectory(prefix="repo-map-scaling-") as scratch_name:
        scratch = Path(scratch_name)
        with _maybe_checkout(args.against) as old_code:
            for name in names:
                tree = TREES[name]()
                print(f"\n{TREE_TITLES[name]}: {tracked_python_files(tree):,} tracked .py files")
                today, before = Series(), Series()
                for run in range(args.runs):
                    measure(tree, ROOT, args.tokens, scratch, f"{name}-now", run, today)
                    if old_code is not None and name in against_names:
                        measure(tree, old_code, args.tokens, scratch, f"{name}-rev", run, before)
                report("this revision", today)
                if before.cold:
                    report(f"at {args.against}", before)
                    ratio = _median([r.wall_s for r in today.warm]) / _median(
                        [r.wall_s for r in before.warm]
                    )
                    cold_ratio = _median([r.wall_s for r in today.cold]) / _median(
                        [r.wall_s for r in before.cold]
                    )
                    print(f"  now / {args.against}: cold {cold_ratio:.2f}, warm {ratio:.2f}")
                    compare_maps(today.warm[-1].stdout, before.warm[-1].stdout)
                aider = aider_series(tree, args.tokens, args.runs)
                if aider is not None:
                    report("aider --show-repo-map", aider)
    print(f"\nload average after {os.getloadavg()}")
    return 0


@contextmanager
def _maybe_checkout(revision: str | None) -> Iterator[Path | None]:
    if revision is None:
        yield None
        return
    with revision_checkout(revision) as checkout:
        yield checkout


if __name__ == "__main__":
    sys.exit(main())
