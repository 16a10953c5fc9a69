"""How one command will start: the sandbox layers this machine supports, decided before fork.

`plan_command` picks the layers from the probe: bubblewrap (namespaces, read-only host,
masked secrets, read-only git metadata) with a seccomp filter when it works; otherwise
Landlock + seccomp installed in the child, reported as `sandboxed=False`. In full-access
mode, bubblewrap (or Landlock) only keeps the secret masks. Always: resource limits and a
pids cgroup when one can be made. `tools.sandbox.runner` starts the plan and watches it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from tools.sandbox import bwrap as bwrap_args
from tools.sandbox.cgroup import PidsCgroup, try_create
from tools.sandbox.landlock import LandlockRuleset
from tools.sandbox.netns import join_step
from tools.sandbox.policy import DEFAULT_SECRET_PATHS, SandboxMode, SandboxPolicy
from tools.sandbox.probe import SandboxLayers, probe_layers
from tools.sandbox.seccomp import PreparedFilter, build_program


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


def _plan_full_access(plan: SandboxPlan, command: list[str], policy: SandboxPolicy, repo: Path,
                      cwd: Path, layers: SandboxLayers) -> None:  # fmt: skip
    plan.argv, plan.env = command, dict(os.environ)
    plan.notes.append("full-access mode: no sandbox (limits, timeout and secret masks only)")
    if layers.bwrap.available:
        bwrap = layers.bwrap_path or "bwrap"
        plan.argv = bwrap_args.full_access_argv(command, repo=repo, cwd=cwd,
                                                masks=_masks(policy), bwrap=bwrap)  # fmt: skip
        plan.layers += ["secret-masks", "cap-drop"]
    elif layers.landlock.available:
        ruleset = LandlockRuleset(writable=[Path("/"), repo], network=True,
                                  abi=layers.landlock_abi, hidden=_masks(policy))  # fmt: skip
        plan.cleanups.append(ruleset.close)
        plan.child_steps.append(ruleset.restrict_self)
        plan.layers += ["secret-masks", "landlock"]
    else:
        plan.notes.append("no bubblewrap and no Landlock: secrets are readable")


def _plan_bwrap(plan: SandboxPlan, command: list[str], policy: SandboxPolicy, repo: Path,
                cwd: Path, layers: SandboxLayers) -> None:  # fmt: skip
    masks = _masks(policy)
    shared_net = policy.session_netns is not None and not policy.network
    if shared_net:
        plan.child_steps.append(join_step(str(policy.session_netns)))
    seccomp_fd = None
    if layers.seccomp.available and layers.seccomp_via_bwrap:
        seccomp_fd = os.memfd_create("tessera-seccomp")
        plan.cleanups.append(lambda: os.close(seccomp_fd))
        # In the session's namespace IP sockets stay inside it: the namespace is the wall.
        inet = policy.network or shared_net
        os.write(seccomp_fd, build_program(network=inet, strict_unix=policy.strict_unix))
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        plan.pass_fds.append(seccomp_fd)
    plan.env = bwrap_args.sandbox_env(policy, os.environ)
    plan.argv = bwrap_args.build_argv(
        command, policy=policy, repo=repo, cwd=cwd, env=plan.env, masks=masks,
        bwrap=layers.bwrap_path or "bwrap", seccomp_fd=seccomp_fd,
    )  # fmt: skip
    plan.sandboxed = True
    plan.layers += ["bwrap", "cap-drop", "secret-masks", "git-readonly", "private-tmp", "clearenv"]
    if shared_net:
        plan.layers.append("session-network")
    elif not policy.network:
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
            hidden=_masks(policy), visible=[repo],
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
            _plan_full_access(plan, command, policy, repo, cwd, layers)
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
