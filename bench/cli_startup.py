"""How long `tessera --help` takes beside a bare `python -c pass` (target: ≤ 0.3 s).

    python -m bench.cli_startup [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys

from bench.timing import interleaved, run_quiet, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    tessera = shutil.which("tessera") or sys.exit("`tessera` is not on PATH: install it first")
    samples = interleaved(
        {
            "python -c pass": run_quiet([sys.executable, "-c", "pass"]),
            "tessera --help": run_quiet([tessera, "--help"]),
            "tessera sandbox --help": run_quiet([tessera, "sandbox", "--help"]),
        },
        runs=args.runs,
    )
    for name, values in samples.items():
        print(f"{name:<24} {summary(values)}")
    base = statistics.median(samples["python -c pass"])
    help_time = statistics.median(samples["tessera --help"])
    print(
        f"tessera --help: {help_time * 1000:.0f} ms median, {help_time / base:.2f}x "
        f"`python -c pass`, {(help_time - base) * 1000:.0f} ms over it (target ≤ 300 ms)"
    )


if __name__ == "__main__":
    main()
