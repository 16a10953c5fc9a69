"""Run one command the model chose, inside every sandbox layer this machine supports.

`run_command` starts what `tools.sandbox.plan.plan_command` decided (bubblewrap or the
Landlock fallback, seccomp, secret masks, limits, a pids cgroup) and adds a wall-clock
timeout, stdin from /dev/null, and output read incrementally into a bounded head+tail
buffer. `SandboxPlan` and `plan_command` are importable from here too.

A string command runs as `bash -c STRING`; a list runs as is, with no shell.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.output import HeadTailBuffer
from tools.sandbox.cgroup import PidsCgroup
from tools.sandbox.plan import SandboxPlan, plan_command
from tools.sandbox.policy import SandboxPolicy
from tools.sandbox.probe import SandboxLayers

# Output beyond the cap is discarded, but a command that keeps producing it (`yes`) is
# killed once it has written this much: enough for any honest build log to finish.
OUTPUT_KILL_FACTOR = 8
OUTPUT_KILL_FLOOR = 8 * 1024 * 1024
# How long to keep reading after the main process exits, for output still in the pipe,
# when something it left behind might hold the pipe open.
EXIT_GRACE_S = 0.5
READ_CHUNK = 256 * 1024


@dataclass
class CommandResult:
    exit_code: int | None  # None when we killed it (timeout, output cap) or it never started
    output: str  # stdout and stderr interleaved, head and tail kept
    truncated: bool
    timed_out: bool
    killed_reason: str | None
    duration_s: float
    sandboxed: bool  # True only when the command ran inside bubblewrap's namespaces
    layers: list[str]  # the protections that applied, e.g. ["bwrap", "seccomp", ...]
    notes: list[str] = field(default_factory=list)  # what was missing, in words
    output_bytes: int = 0


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _exit_reason(code: int) -> str | None:
    if code == 128 + signal.SIGXCPU:
        return "CPU time limit (SIGXCPU)"
    if code == 128 + signal.SIGXFSZ:
        return "file size limit (SIGXFSZ)"
    return None


def run_command(
    argv: list[str] | str,
    *,
    repo: Path,
    policy: SandboxPolicy,
    cwd: Path | None = None,
    layers: SandboxLayers | None = None,
) -> CommandResult:
    """Run `argv` under `policy` with `repo` as the writable workspace.

    `layers` defaults to what `probe_layers()` found; tests pass their own to exercise
    the fallbacks. Raises ValueError for a missing repo/cwd or an empty command.
    """
    started = time.monotonic()
    plan = plan_command(argv, repo=repo, policy=policy, cwd=cwd, layers=layers)
    plan.layers += ["timeout", "output-cap"]
    try:
        return _execute(plan, policy, started)
    finally:
        plan.cleanup()


def _execute(plan: SandboxPlan, policy: SandboxPolicy, started: float) -> CommandResult:
    def finish(exit_code: int | None, text: str, killed_reason: str | None,
               watcher: _Watcher | None = None) -> CommandResult:  # fmt: skip
        buffer = watcher.buffer if watcher else None
        return CommandResult(
            exit_code=exit_code,
            output=buffer.text() if buffer else text,
            truncated=buffer.truncated if buffer else False,
            timed_out=watcher.timed_out if watcher else False,
            killed_reason=killed_reason,
            duration_s=time.monotonic() - started,
            sandboxed=plan.sandboxed,
            layers=list(plan.layers),
            notes=list(plan.notes),
            output_bytes=buffer.total if buffer else 0,
        )

    try:
        proc = subprocess.Popen(
            plan.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=plan.env, cwd=plan.cwd, start_new_session=True, pass_fds=plan.pass_fds,
            preexec_fn=plan.preexec,
        )  # fmt: skip
    except FileNotFoundError:
        return finish(127, f"{plan.argv[0]}: command not found\n", None)
    except PermissionError as exc:
        return finish(126, f"{plan.argv[0]}: {exc.strerror}\n", None)
    except subprocess.SubprocessError as exc:
        # A layer failed to apply in the child: refuse rather than run with less.
        return finish(None, f"sandbox setup failed: {exc}\n", "sandbox setup failed")

    watcher = _Watcher(proc, plan.cgroup, policy)
    watcher.run(deadline=started + policy.timeout_s)
    if watcher.killed_reason is not None:
        return finish(None, "", watcher.killed_reason, watcher)
    # Report a signal death the way shells (and bwrap, for the sandboxed command) do.
    code = 128 - proc.returncode if proc.returncode < 0 else proc.returncode
    reason = _exit_reason(code)
    if reason is None and proc.returncode < 0:
        reason = f"killed by {_signal_name(-proc.returncode)}"
    return finish(code, "", reason, watcher)


class _Watcher:
    """Reads output, enforces the timeout and the output cap, and clears up what remains."""

    def __init__(self, proc: subprocess.Popen[bytes], cgroup: PidsCgroup | None,
                 policy: SandboxPolicy) -> None:  # fmt: skip
        self.proc = proc
        self.cgroup = cgroup
        self.buffer = HeadTailBuffer(policy.output_limit)
        self.kill_after = max(OUTPUT_KILL_FACTOR * policy.output_limit, OUTPUT_KILL_FLOOR)
        self.timeout_s = policy.timeout_s
        self.timed_out = False
        self.killed_reason: str | None = None
        assert proc.stdout is not None
        self.pipe = proc.stdout.fileno()
        os.set_blocking(self.pipe, False)

    def kill_everything(self) -> None:
        # start_new_session made the child a group leader; in bwrap mode killing it takes
        # the sandbox's pid namespace down with it (--die-with-parent). The cgroup catches
        # whatever left the process group (setsid daemons) when there is no pid namespace.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def _drain(self) -> bool:
        """Read what is available; False at end of file."""
        for _ in range(64):  # bounded so a flood cannot starve the timeout check
            try:
                chunk = os.read(self.pipe, READ_CHUNK)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            self.buffer.feed(chunk)
            if self.buffer.total > self.kill_after and self.killed_reason is None:
                self.killed_reason = f"output cap ({self.buffer.total} bytes written)"
                self.kill_everything()
        return True

    def run(self, deadline: float) -> None:
        try:
            pidfd: int | None = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        poller = select.poll()
        poller.register(self.pipe, select.POLLIN | select.POLLHUP | select.POLLERR)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        pipe_open = True
        # Once the main process is gone (or killed), read for a short grace only: a daemon
        # it left might hold the pipe open forever.
        exited_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                if exited_at is None and now >= deadline:
                    self.timed_out = True
                    self.killed_reason = f"timeout after {self.timeout_s:g} s"
                    self.kill_everything()
                    exited_at = now
                if exited_at is not None and (not pipe_open or now >= exited_at + EXIT_GRACE_S):
                    break
                limit = exited_at + EXIT_GRACE_S if exited_at is not None else deadline
                wait_s = min(limit - now, 1.0 if pidfd is not None else 0.05)
                events = poller.poll(max(0.0, wait_s) * 1000)
                if pipe_open and not self._drain():
                    pipe_open = False
                    poller.unregister(self.pipe)
                if exited_at is None and self.killed_reason is not None:
                    exited_at = time.monotonic()  # the output cap fired
                if exited_at is None and self._main_exited(pidfd, events):
                    exited_at = time.monotonic()
                    self.kill_everything()  # whatever it left running (`nohup ... &`) goes too
                    if pidfd is not None:
                        poller.unregister(pidfd)
        finally:
            if pidfd is not None:
                os.close(pidfd)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill_everything()
            self.proc.wait(timeout=5)
        if pipe_open:
            self._drain()
        self.proc.stdout.close()  # type: ignore[union-attr]

    def _main_exited(self, pidfd: int | None, events: list[tuple[int, int]]) -> bool:
        if pidfd is not None:
            return any(fd == pidfd for fd, _ in events)
        return self.proc.poll() is not None
