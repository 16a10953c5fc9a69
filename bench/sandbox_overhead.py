"""Per-command cost of the sandbox: `run_command(["true"])` beside a plain `subprocess.run`.

    python -m bench.sandbox_overhead [--runs N]

Target: at most 100 ms median overhead per command in workspace-write mode. The
full-access row shows what the runner itself costs (limits, cgroup, output loop) plus
the bubblewrap that keeps only the secret masks in that mode (docs/sandbox.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.timing import interleaved, summary
from tools.sandbox.policy import SandboxMode, SandboxPolicy
from tools.sandbox.probe import probe_layers
from tools.sandbox.runner import run_command

TARGET_MS = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
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
