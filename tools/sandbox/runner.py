"""Run one command the model chose, inside every sandbox layer this machine supports.

`run_command` picks the layers from the probe: bubblewrap (namespaces, read-only host,
masked secrets, read-only git metadata) with a seccomp filter when it works; otherwise
Landlock + seccomp installed in the child, reported as `sandboxed=False`. Always: a
wall-clock timeout, resource limits, a pids cgroup when one can be made, stdin from
/dev/null, and output read incrementally into a bounded head+tail buffer.

A string command runs as `bash -c STRING`; a list runs as is, with no shell.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tools.output import HeadTailBuffer
from tools.sandbox import bwrap as bwrap_args
from tools.sandbox.cgroup import PidsCgroup, try_create
from tools.sandbox.landlock import LandlockRuleset
from tools.sandbox.policy import DEFAULT_SECRET_PATHS, SandboxMode, SandboxPolicy
from tools.sandbox.probe import SandboxLayers, probe_layers
from tools.sandbox.seccomp import PreparedFilter, build_program

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


class SandboxPlan:
    """Everything decided before fork: argv, env, what the child does, what to clean up.

    Start `argv` with `env`, `pass_fds` and `preexec_fn=preexec`, then call `cleanup()`.
    """

    def __init__(self) -> None:
        self.argv: list[str] = []
        self.env: dict[str, str] = {}
        self.layers: list[str] = []
        self.notes: list[str] = []
        self.sandboxed = False
        self.pass_fds: list[int] = []
        self.child_steps: list[Callable[[], None]] = []
        self.cleanups: list[Callable[[], None]] = []
        self.cgroup: PidsCgroup | None = None
        self.preexec: Callable[[], None] = lambda: None
        self.cwd = Path("/")

    def cleanup(self) -> None:
        for step in reversed(self.cleanups):
            with contextlib.suppress(OSError):
                step()


def _tasks_of_user(uid: int) -> int:
    """Tasks (threads included: RLIMIT_NPROC counts them) the user runs right now."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                # procfs reports a task directory's link count as 2 + its thread count.
                count += max(os.stat(f"/proc/{entry}/task").st_nlink - 2, 1)
        except OSError:
            continue
    return count


def _rlimits(policy: SandboxPolicy, is_root: bool) -> list[tuple[int, int, int]]:
    wanted = [
        (resource.RLIMIT_AS, policy.memory_bytes, policy.memory_bytes),
        # SIGXCPU at the soft limit, SIGKILL a little later for a process that catches it.
        (resource.RLIMIT_CPU, policy.cpu_seconds, policy.cpu_seconds + 2),
        (resource.RLIMIT_FSIZE, policy.file_size_bytes, policy.file_size_bytes),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if not is_root:
        # Counted per real uid across the whole machine, so leave room for what the user
        # already runs. Root ignores this limit entirely; it gets the pids cgroup.
        running = _tasks_of_user(os.getuid())
        wanted.append((resource.RLIMIT_NPROC, running + policy.max_pids, running + policy.max_pids))
    limits = []
    for which, soft, hard in wanted:
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        limits.append((which, soft, hard))
    return limits


def _masks(policy: SandboxPolicy) -> list[Path]:
    home = Path(os.environ.get("HOME") or os.path.expanduser("~"))
    return bwrap_args.masked_paths(policy, home, DEFAULT_SECRET_PATHS)


def _plan_full_access(plan: SandboxPlan, command: list[str], policy: SandboxPolicy, cwd: Path,
                      layers: SandboxLayers) -> None:  # fmt: skip
    plan.argv, plan.env = command, dict(os.environ)
    plan.notes.append("full-access mode: no sandbox (limits, timeout and secret masks only)")
    if layers.bwrap.available:
        bwrap = layers.bwrap_path or "bwrap"
        plan.argv = bwrap_args.full_access_argv(command, cwd=cwd, masks=_masks(policy),
                                                bwrap=bwrap)  # fmt: skip
        plan.layers += ["secret-masks", "cap-drop"]
    elif layers.landlock.available:
        ruleset = LandlockRuleset(writable=[Path("/")], network=True, abi=layers.landlock_abi,
                                  hidden=_masks(policy))  # fmt: skip
        plan.cleanups.append(ruleset.close)
        plan.child_steps.append(ruleset.restrict_self)
        plan.layers += ["secret-masks", "landlock"]
    else:
        plan.notes.append("no bubblewrap and no Landlock: secrets are readable")


def _plan_bwrap(plan: SandboxPlan, command: list[str], policy: SandboxPolicy, repo: Path,
                cwd: Path, layers: SandboxLayers) -> None:  # fmt: skip
    masks = _masks(policy)
    seccomp_fd = None
    if layers.seccomp.available and layers.seccomp_via_bwrap:
        seccomp_fd = os.memfd_create("tessera-seccomp")
        plan.cleanups.append(lambda: os.close(seccomp_fd))
        os.write(seccomp_fd, build_program(network=policy.network, strict_unix=policy.strict_unix))
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        plan.pass_fds.append(seccomp_fd)
    plan.env = bwrap_args.sandbox_env(policy, os.environ)
    plan.argv = bwrap_args.build_argv(
        command, policy=policy, repo=repo, cwd=cwd, env=plan.env, masks=masks,
        bwrap=layers.bwrap_path or "bwrap", seccomp_fd=seccomp_fd,
    )  # fmt: skip
    plan.sandboxed = True
    plan.layers += ["bwrap", "cap-drop", "secret-masks", "git-readonly", "private-tmp", "clearenv"]
    if not policy.network:
        plan.layers.append("network-off")
    if seccomp_fd is not None:
        plan.layers.append("seccomp")
    else:
        plan.notes.append(f"seccomp unavailable: {layers.seccomp.detail}")


def _plan_fallback(plan: SandboxPlan, command: list[str], policy: SandboxPolicy, repo: Path,
                   layers: SandboxLayers) -> None:  # fmt: skip
    plan.notes.append(
        f"sandbox OFF: bubblewrap unusable ({layers.bwrap.detail}); "
        f".git and host processes are exposed. Fix: {layers.bwrap.fix}"
    )
    private_tmp = Path(tempfile.mkdtemp(prefix="tessera-tmp-"))
    plan.cleanups.append(lambda: shutil.rmtree(private_tmp, ignore_errors=True))
    plan.env = bwrap_args.sandbox_env(policy, os.environ)
    plan.env.update(TMPDIR=str(private_tmp), TMP=str(private_tmp), TEMP=str(private_tmp))
    plan.argv = command
    plan.layers.append("clearenv")
    if layers.landlock.available:
        writable = [private_tmp]
        if policy.mode is SandboxMode.WORKSPACE_WRITE:
            writable += [repo, *policy.extra_writable]
        ruleset = LandlockRuleset(
            writable=writable, network=policy.network, abi=layers.landlock_abi,
            hidden=_masks(policy),
        )  # fmt: skip
        plan.cleanups.append(ruleset.close)
        plan.child_steps.append(ruleset.restrict_self)
        plan.layers += ["landlock", "secret-masks"]
    else:
        plan.notes.append(
            f"Landlock unavailable, writes not confined, secrets readable: {layers.landlock.detail}"
        )
    if layers.seccomp.available:
        program = build_program(network=policy.network, strict_unix=policy.strict_unix)
        prepared = PreparedFilter(program)
        plan.child_steps.append(prepared.install)  # last: it may deny what earlier steps use
        plan.layers.append("seccomp")
        if not policy.network:
            plan.layers.append("network-off")
    else:
        plan.notes.append(f"seccomp unavailable, network open: {layers.seccomp.detail}")


def plan_command(
    argv: list[str] | str,
    *,
    repo: Path,
    policy: SandboxPolicy,
    cwd: Path | None = None,
    layers: SandboxLayers | None = None,
) -> SandboxPlan:
    """How to start `argv` under `policy`, without starting it.

    For programs that need their own plumbing (the screenshot browser talks DevTools over
    pipes); `run_command` uses it too. Raises ValueError for a missing repo/cwd or an
    empty command.
    """
    command = ["bash", "-c", argv] if isinstance(argv, str) else list(argv)
    if not command or not command[0]:
        raise ValueError("empty command")
    repo = Path(os.path.realpath(repo))
    if not repo.is_dir():
        raise ValueError(f"repository {repo} is not a directory")
    cwd = Path(os.path.realpath(cwd if cwd is not None else repo))
    if not cwd.is_dir():
        raise ValueError(f"working directory {cwd} is not a directory")
    layers = layers or probe_layers()
    plan = SandboxPlan()
    plan.cwd = cwd
    try:
        if policy.mode is SandboxMode.FULL_ACCESS:
            _plan_full_access(plan, command, policy, cwd, layers)
        elif layers.bwrap.available:
            _plan_bwrap(plan, command, policy, repo, cwd, layers)
        else:
            _plan_fallback(plan, command, policy, repo, layers)
        if layers.pids_cgroup.available and layers.cgroup_parent is not None:
            plan.cgroup = try_create(layers.cgroup_parent, policy.max_pids)
        if plan.cgroup is not None:
            plan.cleanups.append(plan.cgroup.remove)
            plan.layers.append("pids-cgroup")
        elif layers.is_root:
            detail = layers.pids_cgroup.detail
            plan.notes.append(f"no pids cgroup, process count unlimited: {detail}")
        plan.layers.append("rlimits")
        plan.preexec = _child_setup(_rlimits(policy, layers.is_root), plan.cgroup,
                                    plan.child_steps)  # fmt: skip
    except BaseException:
        plan.cleanup()
        raise
    return plan


def _child_setup(limits: list[tuple[int, int, int]], cgroup: PidsCgroup | None,
                 steps: list[Callable[[], None]]) -> Callable[[], None]:  # fmt: skip
    def setup() -> None:
        # Python ignores these and the setting survives exec: `yes | head` would spin and
        # a file past RLIMIT_FSIZE would just see EFBIG forever.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, hard))
        if cgroup is not None:
            cgroup.join()
        for step in steps:
            step()

    return setup


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
