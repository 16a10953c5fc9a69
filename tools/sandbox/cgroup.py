"""A pids cgroup per command: caps how many tasks it may have and kills them all after.

`RLIMIT_NPROC` does nothing for root, and a `setsid` daemon escapes `killpg`; a cgroup
handles both. Works with a cgroup v1 `pids` hierarchy or a cgroup v2 tree whose
`pids` controller is enabled for us (the probe decides which, if any, is usable).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from pathlib import Path

_counter = itertools.count()


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, options) for every cgroup mount."""
    found = []
    try:
        with open("/proc/self/mounts") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                    found.append((parts[1].replace("\\040", " "), parts[2], parts[3]))
    except OSError:
        pass
    return found


def _own_cgroup(version: str) -> str:
    """Our cgroup path inside the pids (v1) or unified (v2) hierarchy."""
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if version == "v1" and "pids" in controllers.split(","):
                    return path
                if version == "v2" and controllers == "":
                    return path
    except (OSError, ValueError):
        pass
    return "/"


def candidate_parents() -> list[tuple[str, Path]]:
    """Where a per-command pids cgroup could be created, best first: ("v1"|"v2", dir)."""
    out: list[tuple[str, Path]] = []
    for mount_point, fstype, options in _mounts():
        if fstype == "cgroup" and "pids" in options.split(","):
            out.append(("v1", Path(mount_point) / _own_cgroup("v1").lstrip("/")))
    for mount_point, fstype, _ in _mounts():
        if fstype == "cgroup2":
            out.append(("v2", Path(mount_point) / _own_cgroup("v2").lstrip("/")))
    return out


class PidsCgroup:
    """A fresh cgroup under `parent` with `pids.max` set; remove() kills and deletes it."""

    def __init__(self, parent: Path, max_pids: int) -> None:
        self.path = parent / f"tessera-{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        try:
            (self.path / "pids.max").write_text(f"{max_pids}\n")
        except OSError:
            self.path.rmdir()
            raise
        # Opened now so the child only needs a write(2) between fork and exec.
        self.procs_fd = os.open(self.path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)

    def join(self) -> None:
        """Move the calling process into the cgroup (meant for a `preexec_fn`)."""
        os.write(self.procs_fd, b"0\n")

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self) -> None:
        """SIGKILL every task until none is left (a fork bomb keeps forking meanwhile)."""
        kill_file = self.path / "cgroup.kill"
        if kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        deadline = time.monotonic() + 5.0
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        self.kill_all()
        with contextlib.suppress(OSError):
            os.close(self.procs_fd)
        deadline = time.monotonic() + 2.0
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                # Killed tasks linger until reaped; zombies still count as members.
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)


def try_create(parent: Path, max_pids: int) -> PidsCgroup | None:
    try:
        return PidsCgroup(parent, max_pids)
    except OSError:
        return None
