"""Stands in for vLLM under the supervisor: a main process with a worker in its process
group and a grandchild that left it (setsid), as engine cores and workers do.

    python fake_engine.py PIDS_FILE obey|ignore|crash

Writes "main worker stray" pids to PIDS_FILE once all three run. `obey` ends on SIGTERM;
`ignore` ignores it (so does its tree); `crash` exits 3 at once, leaving the others.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def main() -> None:
    pids_file, mode = Path(sys.argv[1]), sys.argv[2]
    if mode == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the forks below
    worker = os.fork()
    if worker == 0:
        stray = os.fork()
        if stray == 0:
            os.setsid()  # out of the engine's group and session
            time.sleep(300)
            os._exit(0)
        Path(f"{pids_file}.stray").write_text(str(stray))
        time.sleep(300)
        os._exit(0)
    stray_file = Path(f"{pids_file}.stray")
    while not stray_file.exists() or not stray_file.read_text():
        time.sleep(0.01)
    pids_file.write_text(f"{os.getpid()} {worker} {stray_file.read_text()}")
    if mode == "crash":
        sys.exit(3)
    time.sleep(300)


if __name__ == "__main__":
    main()
