"""The bubblewrap command line for one sandboxed command.

The view inside: the whole host read-only, the repository writable (or read-only), its
git metadata read-only (so nothing planted there runs later on the host: hooks,
`core.fsmonitor`, a redirected `.git` file), secrets hidden, a private `/tmp` and
`/dev/shm`, a fresh `/proc` and `/dev`, every namespace new (network too unless the
policy turns it on), all capabilities dropped, and an environment rebuilt from an
allow-list. The order of the mount arguments matters: later mounts cover earlier ones.
In full-access mode (`full_access_argv`) the host stays writable and shared, and only the
masks (Tessera's state and the secret list, docs/sandbox.md) and what keeps them are applied.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Mapping
from pathlib import Path

from tools.sandbox.policy import SandboxMode, SandboxPolicy

FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host secrets outside any home: only readable (and so only masked) when running as root,
# where uid 0 inside the sandbox still owns them.
SYSTEM_SECRET_GLOBS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
                       "/etc/ssh/ssh_host_*_key")  # fmt: skip


def sandbox_env(policy: SandboxPolicy, host_env: Mapping[str, str]) -> dict[str, str]:
    """The environment a command sees: the allow-listed host variables plus the policy's own."""
    env = {name: host_env[name] for name in policy.env_allowlist if name in host_env}
    env.update(dict(policy.extra_env))
    if not env.get("PATH"):
        env["PATH"] = FALLBACK_PATH
    return env


def _submodule_paths(repo: Path) -> list[Path]:
    """Checked-out submodules named in `.gitmodules` (git recurses into them on `status`)."""
    try:
        text = (repo / ".gitmodules").read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "path" and value.strip():
            path = Path(os.path.realpath(repo / value.strip()))
            if path != repo and repo in path.parents and path.is_dir():
                found.append(path)
    return found


def protected_paths(repo: Path) -> list[Path]:
    """Paths inside the workspace that commands may read but never change.

    The git metadata of the repository and of its checked-out submodules (hooks,
    `core.fsmonitor` and friends would otherwise run on the host's next git command),
    and Tessera's own project settings (`.tessera/`), which a trusted repository could
    otherwise use to loosen the sandbox for the next session.
    """
    found: list[Path] = []
    for root in (repo, *_submodule_paths(repo)):
        for path in git_metadata_paths(root):
            if path not in found:
                found.append(path)
    settings = repo / ".tessera"
    if settings.is_dir() and not settings.is_symlink():
        found.append(settings)
    return found


def git_metadata_paths(repo: Path) -> list[Path]:
    """Everything git would read hooks or config from for `repo`: to be bound read-only.

    A plain checkout has a `.git` directory. A linked worktree or a submodule has a
    `.git` *file* naming its gitdir, whose `commondir` names the shared one; the file
    itself is protected too, or a command could point it at a gitdir of its own.
    """
    dotgit = repo / ".git"
    if dotgit.is_dir():
        return [dotgit.resolve()]
    if not dotgit.is_file():
        return []
    found = [dotgit]
    try:
        first_line = dotgit.read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return found
    if not first_line.startswith("gitdir:"):
        return found
    gitdir = (repo / first_line.removeprefix("gitdir:").strip()).resolve()
    if gitdir.is_dir():
        found.append(gitdir)
        commondir_file = gitdir / "commondir"
        if commondir_file.is_file():
            common = (gitdir / commondir_file.read_text().strip()).resolve()
            if common.is_dir() and common not in found:
                found.append(common)
    return found


@functools.lru_cache(maxsize=16)
def _candidates(entries: tuple[str, ...], home: str, user_home: str) -> tuple[tuple[str, str], ...]:
    """(parent, name) of each entry's path; `user_home` ($HOME, what `~` means) keys the cache."""
    del user_home
    paths = [os.path.normpath(os.path.join(home, os.path.expanduser(e))) for e in entries]
    return tuple(os.path.split(path) for path in paths)


def _present(entries: list[str], home: Path) -> list[str]:
    """The entries (relative ones under `home`) that exist, symlinks not followed, as paths.

    One directory listing per parent instead of one lstat per entry, and the paths worked
    out once: this runs for the whole built-in list before every command.
    """
    listings: dict[str, set[str] | None] = {}
    present = []
    for parent, name in _candidates(tuple(entries), str(home), os.environ.get("HOME", "")):
        if not name:  # the root directory itself
            present.append(parent)
            continue
        if parent not in listings:
            try:
                listings[parent] = set(os.listdir(parent))
            except (FileNotFoundError, NotADirectoryError):
                listings[parent] = set()
            except OSError:  # searchable but not listable (mode 711): ask for each entry
                listings[parent] = None
        names = listings[parent]
        if name in names if names is not None else os.path.lexists(os.path.join(parent, name)):
            present.append(os.path.join(parent, name))
    return present


def _resolved(paths: list[str]) -> list[Path]:
    """Each path with every symlink resolved, those whose target exists, without repeats."""
    out: list[Path] = []
    for path in paths:
        real = os.path.realpath(path)
        if os.path.exists(real) and Path(real) not in out:
            out.append(Path(real))
    return out


def masked_paths(policy: SandboxPolicy, home: Path, default_secrets: tuple[str, ...]) -> list[Path]:
    """Existing secret paths, resolved: relative entries are under `home`.

    Resolved because a mount covers the real path: when `~/.aws` is a symlink to
    `/data/aws`, it is `/data/aws` that gets masked, and every route to it shows the mask.
    A mask at or below a path the user unmasked is left out.
    """
    unmasked = _resolved(_present(list(policy.unmasked_paths), home))
    entries = [*default_secrets, *policy.state_paths, *policy.extra_masked_paths]
    out = _resolved(_present(entries, home))
    for pattern in SYSTEM_SECRET_GLOBS:
        for match in sorted(glob.glob(pattern)):
            resolved = Path(os.path.realpath(match))
            if os.access(resolved, os.R_OK) and resolved.is_file() and resolved not in out:
                out.append(resolved)
    return [path for path in out if not any(_inside(path, lifted) for lifted in unmasked)]


def _mask_args(path: Path) -> list[str]:
    # A directory becomes an empty tmpfs (made read-only at the end, once every mount
    # point below it exists), so a secret created there later stays on the host side.
    if path.is_dir():
        return ["--tmpfs", str(path)]
    return ["--ro-bind", "/dev/null", str(path)]


def _seal_args(masks: list[Path]) -> list[str]:
    """Make the directory masks read-only; without CAP_SYS_ADMIN nothing inside undoes it."""
    argv: list[str] = []
    for mask in masks:
        if mask.is_dir():
            argv += ["--remount-ro", str(mask)]
    return argv


def _inside(path: Path, parent: Path) -> bool:
    # On strings: `Path.parents` made this the planner's hottest line (it runs per pair of masks).
    child, root = str(path), str(parent)
    return child == root or child.startswith(root if root.endswith("/") else root + "/")


def _outermost(masks: list[Path]) -> list[Path]:
    """`masks` without those below another one: a later mount over a parent would bury
    them (and their read-only remount would then fail)."""
    return [m for m in masks if not any(o != m and _inside(m, o) for o in masks)]


def _masked_around(repo: Path, masks: list[Path], binds: list[str]) -> list[str]:
    """Mount arguments: the masks that contain the repository, then `binds` (which bring the
    repository back inside them), then the other masks, then the read-only seals."""
    outer = _outermost([m for m in masks if _inside(repo, m)])
    # A mask inside another is buried by it, unless the repository, bound in between, holds it.
    later = [m for m in _outermost([m for m in masks if not _inside(repo, m)])
             if _inside(m, repo) or not any(_inside(m, o) for o in outer)]  # fmt: skip
    argv: list[str] = []
    for mask in outer:
        argv += _mask_args(mask)
    argv += binds
    for mask in later:
        argv += _mask_args(mask)
    return argv + _seal_args([*outer, *later])


# What a root command keeps in full-access mode: Docker's default set less CAP_MKNOD (a raw
# disk node reads under the masks). Left out on purpose: CAP_SYS_ADMIN (mount, umount,
# unshare, setns), CAP_DAC_READ_SEARCH (open_by_handle_at), CAP_SYS_PTRACE, CAP_SYS_RAWIO,
# CAP_SYS_MODULE, CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and the rest. bwrap sets no_new_privs, so
# no exec (setuid binary, file capabilities) can bring a dropped one back. CAP_SYS_CHROOT
# stays: a chroot cannot leave the mount namespace, whose root carries the masks.
FULL_ACCESS_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_SETFCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
    "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE",
)  # fmt: skip


def full_access_argv(command: list[str], *, repo: Path, cwd: Path, masks: list[Path],
                     bwrap: str = "bwrap") -> list[str]:  # fmt: skip
    """Full access, secrets still hidden: the host writable, network and environment shared.

    The pid namespace and `/proc` are new and `/dev` minimal because host processes'
    `/proc/PID/root` and raw disks are routes around a mount. As root, only the capabilities
    in FULL_ACCESS_CAPS stay (they are needed by `apt-get`, `chown`...); none of them can undo
    a mask. `/proc/sys` is read-only: uid 0 needs no capability to set `kernel.core_pattern`,
    whose helper would run on the host, outside the masks.
    """
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--cap-drop", "ALL"]
    for capability in FULL_ACCESS_CAPS:
        argv += ["--cap-add", capability]
    argv += ["--bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--ro-bind", "/proc/sys", "/proc/sys"]
    argv += _masked_around(repo, masks, ["--bind", str(repo), str(repo)])
    return [*argv, "--chdir", str(cwd), "--", *command]


def build_argv(
    command: list[str],
    *,
    policy: SandboxPolicy,
    repo: Path,
    cwd: Path,
    env: Mapping[str, str],
    masks: list[Path],
    bwrap: str = "bwrap",
    seccomp_fd: int | None = None,
) -> list[str]:
    """The full argv: bwrap, its options, `--`, then `command`."""
    if policy.mode is SandboxMode.FULL_ACCESS:
        raise ValueError("full-access mode has its own command line: full_access_argv")
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-all"]
    if policy.network or policy.session_netns:
        # With a session namespace, the child joined it before exec (plan.py): keep it.
        argv.append("--share-net")
    # As root, bwrap keeps every capability inside unless told otherwise, and a command
    # could simply remount / read-write.
    argv += ["--cap-drop", "ALL"]
    argv += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    # uid 0 passes the permission check on most sysctls even without capabilities.
    argv += ["--ro-bind", "/proc/sys", "/proc/sys"]
    argv += ["--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]

    writable = policy.mode is SandboxMode.WORKSPACE_WRITE
    binds = ["--bind" if writable else "--ro-bind", str(repo), str(repo)]
    if writable:
        for extra in policy.extra_writable:
            extra_path = Path(os.path.realpath(extra))
            if extra_path.exists():
                binds += ["--bind", str(extra_path), str(extra_path)]
    for protected in protected_paths(repo):
        binds += ["--ro-bind", str(protected), str(protected)]
    argv += _masked_around(repo, masks, binds)

    argv.append("--clearenv")
    for name, value in env.items():
        argv += ["--setenv", name, value]
    argv += ["--chdir", str(cwd)]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return [*argv, "--", *command]
