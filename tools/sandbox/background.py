"""Commands that keep running: dev servers, watchers, anything started with `background=true`.

Each starts exactly like a foreground command (tools/sandbox/plan.py: the same sandbox,
rlimits and pids cgroup, the session's network namespace; the cgroups of one session's
processes sit in one session cgroup, so together they get the policy's `max_pids`) but
without a timeout: a
thread reads its output into a bounded log and notices when it ends. Killing one kills
its whole process group and its cgroup; in bubblewrap its pid namespace goes with its
init. `BackgroundProcesses.close()` kills them all (the session ends), and bubblewrap's
`--die-with-parent` takes them down should Tessera itself die.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.output import HeadTailBuffer
from tools.sandbox.plan import SandboxPlan, plan_command
from tools.sandbox.policy import SandboxPolicy
from tools.sandbox.probe import SandboxLayers

# What a process's log keeps (older output is dropped); a read shows at most the policy's
# output limit of it, head and tail.
LOG_LIMIT = 1024 * 1024
MAX_PROCESSES = 8
READ_CHUNK = 64 * 1024


@dataclass
class BackgroundProcess:
    id: int
    command: str
    proc: subprocess.Popen[bytes]
    plan: SandboxPlan
    started: float = field(default_factory=time.monotonic)
    log: bytearray = field(default_factory=bytearray)
    log_start: int = 0  # offset of log[0] in everything it ever wrote
    read_upto: int = 0  # offset the last bash_output reached
    exit_code: int | None = None
    ended: float | None = None
    killed: bool = False
    reported: bool = False  # its end was told to the model
    reader: threading.Thread | None = None

    @property
    def written(self) -> int:
        return self.log_start + len(self.log)

    @property
    def running(self) -> bool:
        return self.ended is None

    def status(self) -> str:
        if self.running:
            return "running"
        if self.killed:
            return "killed"
        return f"exited with code {self.exit_code}"


def _code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _descendants(root: int) -> list[int]:
    """`root` and every process below it (host pids; a pid namespace does not hide them here)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def listening_ports(pid: int) -> list[int]:
    """TCP ports that `pid` or a process below it listens on, in its network namespace."""
    inodes: set[str] = set()
    pids = _descendants(pid)
    for each in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{each}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{each}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        for each in pids:  # any of them names the namespace's table; the first that reads
            try:
                lines = Path(f"/proc/{each}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
            break
    return sorted(ports)


class BackgroundProcesses:
    """The session's background processes, numbered from 1 in start order."""

    def __init__(self, layers: SandboxLayers | None = None) -> None:
        # The layers each start is planned with: the session's, whose pids cgroup parent is
        # a cgroup of the session's own, so all its processes share one pids limit.
        self.layers = layers
        self._processes: dict[int, BackgroundProcess] = {}
        self._lock = threading.Lock()
        self._next_id = 1
        self.closed = False

    def start(self, command: str, *, repo: Path, policy: SandboxPolicy) -> BackgroundProcess:
        """Start `command` (bash -c) in the sandbox of `policy`. Raises ValueError (too many,
        closed, bad repo) or OSError."""
        with self._lock:
            if self.closed:
                raise ValueError("the session is over: no new background processes")
            running = [p for p in self._processes.values() if p.running]
            if len(running) >= MAX_PROCESSES:
                raise ValueError(f"{MAX_PROCESSES} background processes already run; "
                                 "stop one with bash_kill first")  # fmt: skip
            number = self._next_id
            self._next_id += 1
        plan = plan_command(command, repo=repo, policy=policy, layers=self.layers)
        try:
            proc = subprocess.Popen(
                plan.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=plan.env, cwd=plan.cwd, start_new_session=True,
                pass_fds=plan.pass_fds, preexec_fn=plan.preexec,
            )  # fmt: skip
        except BaseException:
            plan.cleanup()
            raise
        process = BackgroundProcess(number, command, proc, plan)
        process.reader = threading.Thread(target=self._read, args=(process,), daemon=True,
                                          name=f"tessera-bg-{number}")  # fmt: skip
        with self._lock:
            self._processes[number] = process
        process.reader.start()
        return process

    def _read(self, process: BackgroundProcess) -> None:
        pipe = process.proc.stdout
        assert pipe is not None
        while chunk := pipe.read1(READ_CHUNK):
            with self._lock:
                process.log += chunk
                excess = len(process.log) - LOG_LIMIT
                if excess > 0:
                    del process.log[:excess]
                    process.log_start += excess
        code = process.proc.wait()
        # What the command left behind (a daemonised child) goes with it.
        self._kill_tree(process)
        process.plan.cleanup()
        with self._lock:
            process.exit_code = _code(code)
            process.ended = time.monotonic()
        pipe.close()

    def get(self, number: int) -> BackgroundProcess:
        with self._lock:
            if number not in self._processes:
                known = ", ".join(str(n) for n in self._processes) or "none"
                raise KeyError(f"no background process {number} (known: {known})")
            return self._processes[number]

    def list(self) -> list[BackgroundProcess]:
        with self._lock:
            return list(self._processes.values())

    def output(self, number: int, since: int | None, limit: int) -> tuple[str, int, int, bool]:
        """(text, from, to, truncated): what it wrote from offset `since` (default: where the
        last read ended), at most `limit` bytes kept as head and tail."""
        process = self.get(number)
        with self._lock:
            start = process.read_upto if since is None else max(0, since)
            start = max(start, process.log_start)
            data = bytes(process.log[start - process.log_start:])
            end = process.written
            process.read_upto = end
        buffer = HeadTailBuffer(limit)
        buffer.feed(data)
        return buffer.text(), start, end, buffer.truncated

    @staticmethod
    def _kill_tree(process: BackgroundProcess) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.proc.pid, signal.SIGKILL)
        if process.plan.cgroup is not None:
            process.plan.cgroup.kill_all()

    def kill(self, number: int, timeout: float = 5.0) -> BackgroundProcess:
        """Kill it and everything it started; returns once it is gone."""
        process = self.get(number)
        if process.running:
            process.killed = True
            self._kill_tree(process)
            if process.reader is not None:
                process.reader.join(timeout)
        process.reported = True  # the kill's own result says it ended
        return process

    def take_exited(self) -> list[BackgroundProcess]:
        """Processes that ended since the last call and were not yet reported, once each."""
        with self._lock:
            ended = [p for p in self._processes.values() if not p.running and not p.reported]
            for process in ended:
                process.reported = True
        return ended

    def close(self) -> None:
        """Kill every process (the session ends)."""
        with self._lock:
            self.closed = True
            running = [p for p in self._processes.values() if p.running]
        for process in running:
            self.kill(process.id)
