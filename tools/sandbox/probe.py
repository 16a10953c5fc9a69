"""Which sandbox layers actually work on this machine, found by trying them.

Every layer is checked by doing the real thing once (start bwrap with capabilities
dropped, load our seccomp filter through it, create a pids cgroup, ...), never by
reading version numbers, so `tessera doctor` and the runner agree with what happens.
`probe_layers()` caches its answer for the life of the process.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tools.sandbox import cgroup, landlock
from tools.sandbox.seccomp import SeccompUnsupported, build_program

PROBE_TIMEOUT_S = 10.0
T = TypeVar("T")

FIX_INSTALL_BWRAP = "apt-get install bubblewrap (or: dnf install bubblewrap)"
FIX_USERNS = (
    "allow unprivileged user namespaces (sysctl -w kernel.unprivileged_userns_clone=1; on "
    "Ubuntu 24.04+ sysctl -w kernel.apparmor_restrict_unprivileged_userns=0) or install a "
    "setuid bwrap"
)
FIX_SECCOMP = "use a kernel built with CONFIG_SECCOMP_FILTER"
FIX_LANDLOCK = "boot a kernel >= 5.13 with CONFIG_SECURITY_LANDLOCK and lsm=landlock,..."


LAYER_NAMES = ("bwrap", "seccomp", "landlock", "pids_cgroup", "userns")


@dataclass(frozen=True)
class Layer:
    available: bool
    detail: str
    fix: str = ""  # what to run or change when unavailable; empty when available


@dataclass(frozen=True)
class SandboxLayers:
    bwrap: Layer
    seccomp: Layer
    landlock: Layer
    pids_cgroup: Layer
    userns: Layer
    is_root: bool
    bwrap_path: str | None = None
    seccomp_via_bwrap: bool = False
    landlock_abi: int = 0
    cgroup_parent: Path | None = None

    @property
    def isolated(self) -> bool:
        """Whether commands get namespaces (filesystem view, pid, network): the real sandbox."""
        return self.bwrap.available

    @property
    def any_layer(self) -> bool:
        return self.bwrap.available or self.landlock.available or self.seccomp.available

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {name: vars(getattr(self, name)) for name in LAYER_NAMES}

    def describe(self) -> list[str]:
        """One line per layer, for `tessera doctor`: name, ok/missing, detail, fix."""
        lines = []
        for name in LAYER_NAMES:
            layer: Layer = getattr(self, name)
            state = "ok" if layer.available else "MISSING"
            line = f"{name:<12} {state:<8} {layer.detail}"
            lines.append(line if layer.available else f"{line} (fix: {layer.fix})")
        verdict = (
            "commands run isolated (bubblewrap)"
            if self.isolated
            else "SANDBOX OFF: commands are not isolated; they need approval"
        )
        return [*lines, verdict]


def _bwrap_base(bwrap: str) -> list[str]:
    # The same core flags the runner uses; --cap-drop ALL matters most when we are root.
    return [bwrap, "--cap-drop", "ALL", "--unshare-all", "--die-with-parent", "--new-session",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]  # fmt: skip


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL,
        **kwargs,  # type: ignore[arg-type]
    )


def _status_field(status_text: str, field: str) -> str:
    for line in status_text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def _probe_bwrap(bwrap_path: str | None, is_root: bool) -> Layer:
    if not bwrap_path:
        return Layer(False, "bubblewrap (bwrap) not found on PATH", FIX_INSTALL_BWRAP)
    try:
        done = _run([*_bwrap_base(bwrap_path), "--", "cat", "/proc/self/status"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Layer(False, f"{bwrap_path} could not start: {exc}", "reinstall bubblewrap")
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["no message"]
        return Layer(False, f"bwrap failed: {reason[0]}", FIX_USERNS)
    caps = _status_field(done.stdout, "CapEff")
    if caps.strip("0"):
        return Layer(False, f"capabilities survive --cap-drop ALL (CapEff {caps})",
                     "upgrade bubblewrap to 0.4 or newer")  # fmt: skip
    version = _run([bwrap_path, "--version"]).stdout.strip()
    who = "as root, capabilities dropped" if is_root else "unprivileged"
    return Layer(True, f"{version or bwrap_path} works ({who})")


def _probe_seccomp(bwrap_ok: bool, bwrap_path: str | None) -> tuple[Layer, bool]:
    try:
        program = build_program(network=False, strict_unix=False)
    except SeccompUnsupported as exc:
        return Layer(False, str(exc), "no fix: run on x86_64 or aarch64"), False
    if bwrap_ok and bwrap_path:
        fd = os.memfd_create("tessera-seccomp-probe")
        try:
            os.write(fd, program)
            os.lseek(fd, 0, os.SEEK_SET)
            done = _run([*_bwrap_base(bwrap_path), "--seccomp", str(fd), "--",
                         "cat", "/proc/self/status"], pass_fds=(fd,))  # fmt: skip
        finally:
            os.close(fd)
        if done.returncode == 0 and _status_field(done.stdout, "Seccomp") == "2":
            size = len(program) // 8
            return Layer(True, f"filter of {size} instructions loads via bwrap --seccomp"), True
        detail = done.stderr.strip() or "filter not active in the sandbox"
        return Layer(False, f"bwrap --seccomp failed: {detail}", FIX_SECCOMP), False
    # Without bwrap the runner installs the filter itself, in the child before exec.
    from tools.sandbox.seccomp import PreparedFilter

    prepared = PreparedFilter(program)
    try:
        done = _run(["cat", "/proc/self/status"], preexec_fn=prepared.install)
    except (OSError, subprocess.SubprocessError) as exc:
        return Layer(False, f"installing the filter failed: {exc}", FIX_SECCOMP), False
    if _status_field(done.stdout, "Seccomp") == "2":
        return Layer(True, "filter installs directly (prctl) before exec"), False
    return Layer(False, "filter did not take effect", FIX_SECCOMP), False


def _probe_landlock() -> tuple[Layer, int]:
    abi = landlock.abi_version()
    if abi < 1:
        return Layer(False, "Landlock not available in this kernel", FIX_LANDLOCK), 0
    return Layer(True, f"Landlock ABI {abi}"), abi


def _probe_pids_cgroup(is_root: bool) -> tuple[Layer, Path | None]:
    tried = []
    for version, parent in cgroup.candidate_parents():
        group = cgroup.try_create(parent, 8)
        if group is None:
            tried.append(f"{version} {parent}: cannot create a child cgroup")
            continue
        has_limit = (group.path / "pids.max").exists()
        group.remove()
        if has_limit:
            return Layer(True, f"cgroup {version} pids controller at {parent}"), parent
        tried.append(f"{version} {parent}: no pids controller")
    if is_root:
        fix = "mount a cgroup v1 pids hierarchy or enable +pids in cgroup.subtree_control (v2)"
    else:
        fix = "run under a delegated cgroup v2 scope: systemd-run --user --scope -p Delegate=yes"
    detail = "; ".join(tried) or "no cgroup mounts found"
    if not is_root:
        detail += " (RLIMIT_NPROC still caps processes for non-root)"
    return Layer(False, detail, fix), None


def _as_nobody() -> None:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def _probe_userns(is_root: bool) -> Layer:
    """Whether an unprivileged user could create a user namespace (what bwrap needs then)."""
    unshare = shutil.which("unshare")
    limit = Path("/proc/sys/user/max_user_namespaces")
    try:
        if limit.exists() and int(limit.read_text()) == 0:
            fix = "sysctl -w user.max_user_namespaces=15000"
            return Layer(False, "user.max_user_namespaces is 0", fix)
    except ValueError:
        pass
    switch = Path("/proc/sys/kernel/unprivileged_userns_clone")
    if switch.exists() and switch.read_text().strip() == "0":
        return Layer(False, "kernel.unprivileged_userns_clone is 0", FIX_USERNS)
    if unshare is None:
        return Layer(True, "not contradicted by sysctls (unshare(1) missing, not tried)")
    # Root may always create one; try as `nobody` to learn what an ordinary user gets.
    done = _run([unshare, "--user", "true"], preexec_fn=_as_nobody if is_root else None)
    who = "uid 65534" if is_root else "this user"
    if done.returncode != 0:
        return Layer(False, f"unshare --user failed as {who}: {done.stderr.strip()}", FIX_USERNS)
    return Layer(True, f"unprivileged user namespaces work (tried as {who})")


def _guarded(name: str, probe: Callable[[], T], failed: Callable[[Layer], T]) -> T:
    """A probe that crashes reports its layer as unavailable instead of breaking doctor."""
    try:
        return probe()
    except Exception as exc:  # any surprise means "do not rely on this layer"
        return failed(Layer(False, f"{name} probe failed: {type(exc).__name__}: {exc}",
                            "report this as a Tessera bug"))  # fmt: skip


def detect_layers(bwrap_path: str | None = None, *, find_bwrap: bool = True) -> SandboxLayers:
    """Probe every layer now (uncached). `bwrap_path` overrides the PATH lookup."""
    is_root = os.geteuid() == 0
    if bwrap_path is None and find_bwrap:
        bwrap_path = shutil.which("bwrap")
    if bwrap_path and not os.access(bwrap_path, os.X_OK):
        bwrap_path = None
    bwrap = _guarded("bwrap", lambda: _probe_bwrap(bwrap_path, is_root), lambda x: x)
    seccomp, via_bwrap = _guarded(
        "seccomp", lambda: _probe_seccomp(bwrap.available, bwrap_path), lambda x: (x, False)
    )
    landlock_layer, abi = _guarded("landlock", _probe_landlock, lambda x: (x, 0))
    pids, parent = _guarded(
        "pids cgroup", lambda: _probe_pids_cgroup(is_root), lambda x: (x, None)
    )
    userns = _guarded("userns", lambda: _probe_userns(is_root), lambda x: x)
    return SandboxLayers(
        bwrap=bwrap, seccomp=seccomp, landlock=landlock_layer, pids_cgroup=pids,
        userns=userns, is_root=is_root, bwrap_path=bwrap_path if bwrap.available else None,
        seccomp_via_bwrap=via_bwrap, landlock_abi=abi, cgroup_parent=parent,
    )  # fmt: skip


@functools.cache
def probe_layers() -> SandboxLayers:
    """The layers usable in this process, probed once."""
    return detect_layers()
