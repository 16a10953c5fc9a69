"""Per-command cost of the sandbox: `run_command(["true"])` beside a plain `subprocess.run`.

    python -m bench.sandbox_overhead [--runs N]
    python -m bench.sandbox_overhead --against REV [--runs N]

`--against REV` times the sandbox of the revision REV (its tools/ from `git archive`) beside
today's: one worker process each, called in turn (ABAB…, order swapped every round), so the
machine's drift hits both alike; it prints both medians and their ratio.

Target: at most 100 ms median overhead per command in workspace-write mode. The
full-access row shows what the runner itself costs (limits, cgroup, output loop) plus
the bubblewrap that keeps only the secret masks in that mode (docs/sandbox.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.timing import interleaved, summary
from tools.sandbox.policy import SandboxMode, SandboxPolicy
from tools.sandbox.probe import probe_layers
from tools.sandbox.runner import run_command

TARGET_MS = 100.0


# One command a line in, one overhead (ms) a line out; runs inside the tree it measures.
_WORKER = """
import subprocess, sys, tempfile, time
from pathlib import Path
from tools.sandbox.policy import SandboxMode, SandboxPolicy
from tools.sandbox.probe import probe_layers
from tools.sandbox.runner import run_command
repo, layers = Path(tempfile.mkdtemp()), probe_layers()
policy = SandboxPolicy(mode=SandboxMode.WORKSPACE_WRITE, timeout_s=30)
for _ in sys.stdin:
    start = time.perf_counter(); subprocess.run(["true"], check=True)
    plain = time.perf_counter() - start
    start = time.perf_counter(); run_command(["true"], repo=repo, policy=policy, layers=layers)
    print((time.perf_counter() - start - plain) * 1000, flush=True)
"""


def _worker(tree: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


def against(revision: str, runs: int) -> None:
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="tessera-bench-old-") as old_tree:
        archive = subprocess.run(["git", "-C", str(root), "archive", revision, "tools"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", old_tree], input=archive, check=True)
        workers = {revision: _worker(Path(old_tree)), "now": _worker(root)}
        samples: dict[str, list[float]] = {name: [] for name in workers}
        try:
            for round_ in range(runs + 2):
                order = list(workers) if round_ % 2 else list(reversed(workers))
                for name in order:
                    worker = workers[name]
                    assert worker.stdin is not None and worker.stdout is not None
                    worker.stdin.write("run\n")
                    worker.stdin.flush()
                    value = float(worker.stdout.readline())
                    if round_ >= 2:  # the first rounds warm both up
                        samples[name].append(value)
        finally:
            for worker in workers.values():
                worker.kill()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, value in medians.items():
        print(f"overhead {name:<12} median {value:6.2f} ms over {len(samples[name])} commands")
    print(f"ratio now/{revision}: {medians['now'] / medians[revision]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--against", metavar="REV", help="time REV's sandbox beside today's")
    args = parser.parse_args()
    if args.against:
        against(args.against, args.runs)
        return
    layers = probe_layers()
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as scratch:
        repo = Path(scratch)
        workspace = SandboxPolicy(mode=SandboxMode.WORKSPACE_WRITE, timeout_s=30)
        full = SandboxPolicy(mode=SandboxMode.FULL_ACCESS, timeout_s=30)

        def sandboxed() -> None:
            result = run_command(["true"], repo=repo, policy=workspace)
            assert result.exit_code == 0, result.output

        samples = interleaved(
            {
                "subprocess.run(true)": lambda: subprocess.run(["true"], check=True),
                "run_command workspace-write": sandboxed,
                "run_command full-access": lambda: run_command(["true"], repo=repo, policy=full),
            },
            runs=args.runs,
        )
        applied = run_command(["true"], repo=repo, policy=workspace).layers
    for name, values in samples.items():
        print(f"{name:<30} {summary(values)}")
    base = statistics.median(samples["subprocess.run(true)"])
    boxed = statistics.median(samples["run_command workspace-write"])
    overhead_ms = (boxed - base) * 1000
    verdict = "within" if overhead_ms <= TARGET_MS else "OVER"
    print(f"layers: {', '.join(applied)}")
    print(f"sandboxed: {layers.isolated} ({layers.bwrap.detail})")
    print(f"overhead: {overhead_ms:.1f} ms median per command, {boxed / base:.1f}x plain "
          f"({verdict} the {TARGET_MS:.0f} ms target)")  # fmt: skip


if __name__ == "__main__":
    main()
