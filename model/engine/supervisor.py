"""`tessera serve`'s supervisor: the engine's whole process tree ends when tessera is stopped.

The engine starts in a session (and process group) of its own, so a terminal's ^C reaches
tessera alone and tessera decides. A SIGTERM, SIGINT or SIGHUP to tessera (systemctl stop,
`kill`, a container runtime, ^C) is forwarded to the engine's group and to every process
below the engine that left it; after a bounded grace period whatever is left gets SIGKILL.
Tessera makes itself a child subreaper, so workers orphaned by a dead engine process are
re-parented to it and still found. If tessera itself is SIGKILLed, the engine's main process
gets SIGTERM from the kernel (PR_SET_PDEATHSIG) and shuts its own workers down; the kernel
does not pass that setting on to the engine's children.

Exit statuses (`Outcome.status`), which a service manager can act on:

- 0: stopped on request, every engine process ended within the grace period;
- 137 (128 + SIGKILL): stopped on request, but engine processes outlived the grace period
  and were killed;
- otherwise the engine ended by itself (a crash): its exit code, 128 + N when signal N
  ended it, 1 when it exited 0 — always non-zero, so `Restart=on-failure` restarts it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
DEFAULT_GRACE = 15.0  # seconds the engine's processes get to stop before SIGKILL
KILLED_AFTER_GRACE = 128 + signal.SIGKILL
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Outcome:
    status: int  # what `tessera serve` exits with (see the module's docstring)
    reason: str  # one line saying what happened
    killed: tuple[int, ...] = ()  # engine processes that needed SIGKILL


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # not Linux
        return False


def _die_with_parent() -> None:
    """In the engine's process before exec: SIGTERM when the supervisor dies, however."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat after the command name: state, ppid, pgrp, session, …"""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid → (parent pid, session id)."""
    found: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat_fields(entry.name)) and fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return found


def descendants(roots: Iterable[int], *, session: int | None = None) -> set[int]:
    """Live processes below `roots` (and, with `session`, every process in that session)."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found = {pid for pid, (_, sid) in table.items() if session is not None and sid == session}
    queue = [*roots, *found]
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return found


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not; a process we may not signal does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    return fields is None or fields[0] != "Z"  # no /proc to ask: the signal said it runs


class Supervisor:
    """Runs one engine command; `run` returns how it ended. Use from the main thread."""

    def __init__(self, command: list[str], env: dict[str, str], *,
                 grace: float = DEFAULT_GRACE, cwd: str | Path | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.command, self.env, self.grace, self.cwd = command, env, grace, cwd
        self.say = say or (lambda _line: None)
        self.proc: subprocess.Popen[bytes] | None = None
        self._received: list[int] = []
        self._others: set[int] = set()  # our children from before the engine (not its)

    def _tree(self) -> set[int]:
        """The engine's processes now: its session, everything below it, and orphans of
        it that were re-parented to us (the subreaper)."""
        assert self.proc is not None
        ours = descendants([os.getpid()]) - self._others - descendants(self._others)
        return (ours | descendants([self.proc.pid], session=self.proc.pid)) - {os.getpid()}

    def start(self) -> subprocess.Popen[bytes]:
        for signum in STOP_SIGNALS:  # before the engine exists: no signal is lost
            signal.signal(signum, lambda signum, _frame: self._received.append(signum))
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        self._others = {pid for pid, (parent, _) in _processes().items()
                        if parent == os.getpid()}
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd,
            start_new_session=True, preexec_fn=_die_with_parent)
        return self.proc

    def run(self, watch: Callable[[], str | None] | None = None) -> Outcome:
        """Wait until the engine ends or a stop signal arrives; stop what is left.

        `watch`, called about once a second while the engine runs, may give a reason to
        stop it (a leader whose followers never joined): the engine is then stopped like
        on a signal, and the outcome is a failure (status 1) with that reason."""
        proc = self.proc or self.start()
        checked = time.monotonic()
        try:
            while not self._received and proc.poll() is None:
                time.sleep(0.1)
                if watch is not None and time.monotonic() - checked >= 1.0:
                    checked = time.monotonic()
                    if (reason := watch()) is not None:
                        self.say(f"{reason}: stopping the engine")
                        killed = self._end(signal.SIGTERM, self.grace)
                        return Outcome(1, reason, killed)
            if self._received:
                return self._stop_on_request(self._received[0])
            killed = self._end(signal.SIGTERM, self.grace)
            code = proc.returncode
            status = 128 - code if code < 0 else code or 1
            how = f"was ended by signal {-code}" if code < 0 else f"exited with code {code}"
            return Outcome(status, f"the engine {how} by itself", killed)
        finally:
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)

    def _stop_on_request(self, signum: int) -> Outcome:
        name = signal.Signals(signum).name
        self.say(f"{name}: stopping the engine (at most {self.grace:.0f} s)")
        killed = self._end(signum, self.grace)
        if killed:
            return Outcome(KILLED_AFTER_GRACE, f"{name}: the engine did not stop within "
                           f"{self.grace:.0f} s; killed pids {sorted(killed)}", killed)
        return Outcome(0, f"{name}: the engine stopped")

    def _end(self, signum: int, grace: float) -> tuple[int, ...]:
        """Send `signum` to the engine's processes, wait up to `grace`, then SIGKILL what
        is left; returns the killed pids."""
        assert self.proc is not None
        tree = self._tree()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)  # the group, as a terminal's ^C would
        _signal_each(tree, signum)  # and those that left it
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self._reap(tree)
            tree |= self._tree()
            if not any(process_alive(pid) for pid in tree):
                return ()
            time.sleep(0.1)
        left = {pid for pid in tree | self._tree() if process_alive(pid)}
        _signal_each(left, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while any(process_alive(pid) for pid in left) and time.monotonic() < deadline:
            self._reap(left)
            time.sleep(0.05)
        self._reap(left)
        return tuple(sorted(left))

    def _reap(self, pids: Iterable[int]) -> None:
        """Collect exit statuses of our own children (the engine, adopted orphans)."""
        assert self.proc is not None
        self.proc.poll()
        for pid in pids:
            if pid != self.proc.pid:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)


def _signal_each(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
