"""Configuration: defaults ← user TOML ← project TOML (clamped) ← environment ← flags.

A repository is untrusted input. Its `.tessera/config.toml` may tighten the sandbox, the
network and the approval policy, never loosen them, and may not choose the backend (a
repository must not be able to send its user's code somewhere). Only the user's own
config, the environment, a flag, or a folder the user trusted with `tessera trust` can.
`sandbox.unmask`, which exposes a secret to commands, comes from the user's own file only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent import paths
from tools.atomic import write_atomically
from tools.net_policy import DomainEntry, NetworkMode, NetworkPolicy
from tools.sandbox.policy import SandboxMode, SandboxPolicy

APPROVAL_POLICIES = ("read-only", "ask", "auto-edit", "auto")  # tight → loose
EFFORTS = ("none", "high", "auto")


class ConfigError(Exception):
    pass


@dataclass
class Config:
    backend: str = "local"
    model_dir: str | None = None
    sandbox_mode: SandboxMode = SandboxMode.WORKSPACE_WRITE
    network: NetworkMode = NetworkMode.OFF
    allow_domains: tuple[DomainEntry, ...] = ()  # tools/net_policy.py entries
    strict_unix: bool = False
    timeout_s: float = 120.0
    memory_mb: int = 4096
    masked_paths: tuple[str, ...] = ()
    unmask: tuple[str, ...] = ()  # user config only: masks lifted on purpose
    approval: str = "ask"
    allow_rules: tuple[str, ...] = ()  # agent/approval.py Rule specs
    deny_rules: tuple[str, ...] = ()
    effort: str = "auto"
    syntax_guard: str = "refuse"  # or "warn"
    worktree_tasks: bool = True  # tasks-screen runs work in their own git worktree
    worktree_max_age_days: float = 14.0  # ended worktree runs are removed after this (0: never)
    # Checks run in the sandbox after a step that changed files (agent/verify.py); a
    # repository may set them, but an untrusted one's never run with the sandbox off.
    verify_commands: tuple[str, ...] = ()
    verify_from_untrusted_repo: bool = False
    tui_inline: bool = False  # run under the shell prompt; finished turns go to scrollback
    tui_mouse: bool = True  # False leaves selection to the terminal itself
    tui_notify: str = "auto"  # notify (OSC 9/777 + bell) when unfocused; "off": never
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def sandbox_policy(self) -> SandboxPolicy:
        return SandboxPolicy(
            mode=self.sandbox_mode,
            # allow-list mode gives commands no network of their own: only the proxy's.
            network=self.network is NetworkMode.ON,
            strict_unix=self.strict_unix,
            timeout_s=self.timeout_s,
            memory_bytes=self.memory_mb * 1024 * 1024,
            extra_masked_paths=self.masked_paths,
            # Tessera's own state (engine key, sessions, trust list, logs) and config.
            state_paths=(str(paths.data_dir()), str(paths.config_dir())),
            unmasked_paths=self.unmask,
        )

    def network_policy(self) -> NetworkPolicy:
        """Where web_fetch and the sandbox's proxy may connect."""
        return NetworkPolicy(self.network, self.allow_domains)


# TOML key → (Config attribute, parser). The one table that names every setting.
def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "on", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "off", "no"):
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


def _network_mode(value: Any) -> NetworkMode:
    # `network = true/false` (and TESSERA_NETWORK=1/0) predate the allow-list mode.
    if isinstance(value, str) and value.lower() in {m.value for m in NetworkMode}:
        return NetworkMode(value.lower())
    try:
        return NetworkMode.ON if _bool(value) else NetworkMode.OFF
    except ValueError:
        raise ValueError(f"expected \"off\", \"allow-list\" or \"on\"; got {value!r}") from None


def _domains(value: Any) -> tuple[DomainEntry, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of hosts such as [\"pypi.org\", \"*.npmjs.org\"]")
    return tuple(DomainEntry.parse(v) for v in value)


def _choice(options: tuple[str, ...]):
    def parse(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}; got {value!r}")
        return str(value)

    return parse


def _paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(os.pathsep) if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of paths")
    return tuple(value)


def _commands(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError('expected a list of commands such as ["ruff check {files}"]')
    return tuple(value)


def _rules(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of rules such as \"tool=bash,command=pytest\"")
    return tuple(value)


SETTINGS: dict[str, tuple[str, Any]] = {
    "backend.spec": ("backend", str),
    "backend.model_dir": ("model_dir", str),
    "sandbox.mode": ("sandbox_mode", SandboxMode),
    "sandbox.network": ("network", _network_mode),
    "sandbox.allow_domains": ("allow_domains", _domains),
    "sandbox.strict_unix": ("strict_unix", _bool),
    "sandbox.timeout": ("timeout_s", float),
    "sandbox.memory_mb": ("memory_mb", int),
    "sandbox.masked_paths": ("masked_paths", _paths),
    "sandbox.unmask": ("unmask", _paths),
    "approval.policy": ("approval", _choice(APPROVAL_POLICIES)),
    "approval.allow": ("allow_rules", _rules),
    "approval.deny": ("deny_rules", _rules),
    "agent.effort": ("effort", _choice(EFFORTS)),
    "tools.syntax_guard": ("syntax_guard", _choice(("refuse", "warn"))),
    "worktree.tasks": ("worktree_tasks", _bool),
    "worktree.max_age_days": ("worktree_max_age_days", float),
    "verify.commands": ("verify_commands", _commands),
    "tui.inline": ("tui_inline", _bool),
    "tui.mouse": ("tui_mouse", _bool),
    "tui.notify": ("tui_notify", _choice(("auto", "off"))),
}

ENVIRONMENT = {
    "TESSERA_BACKEND": "backend.spec",
    "TESSERA_MODEL_DIR": "backend.model_dir",
    "TESSERA_SANDBOX_MODE": "sandbox.mode",
    "TESSERA_NETWORK": "sandbox.network",
    "TESSERA_APPROVAL": "approval.policy",
    "TESSERA_EFFORT": "agent.effort",
}


def _is_tighter_or_equal(key: str, current: Any, proposed: Any) -> bool:
    """Whether an untrusted project may make this change."""
    if key == "sandbox.mode":
        return proposed.rank <= current.rank
    if key == "sandbox.network":
        return proposed.rank <= current.rank
    if key == "sandbox.strict_unix":
        return proposed or not current
    if key in ("sandbox.timeout", "sandbox.memory_mb"):
        return proposed <= current
    if key == "approval.policy":
        return APPROVAL_POLICIES.index(proposed) <= APPROVAL_POLICIES.index(current)
    if key == "worktree.tasks":  # a run in its own worktree is the isolated one
        return proposed or not current
    if key == "worktree.max_age_days":  # a repository may keep runs longer, never less
        return proposed == 0 or (current != 0 and proposed >= current)
    # The backend decides where the user's code is sent; effort and the guard carry no risk.
    return key not in ("backend.spec", "backend.model_dir")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


# Tables of the same files that other modules read whole (agent/hooks.py reads `hooks`,
# the MCP client `mcp_servers`): they are not settings of this table-driven kind.
OWN_SECTIONS = ("hooks", "mcp_servers")


def read_section(path: Path, name: str) -> Any:
    """The raw value of a top-level table of a config file (None when absent); raises
    ConfigError for a file that is not valid TOML."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh).get(name)
    except FileNotFoundError:
        return None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            table = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return _flatten({k: v for k, v in table.items() if k not in OWN_SECTIONS})


def _apply(config: Config, values: dict[str, Any], source: str, *, clamp: bool,
           user_file: bool = False) -> None:  # fmt: skip
    network_before = config.network  # what this source's allow_domains is narrowed against
    for key, raw in values.items():
        if key not in SETTINGS:
            config.warnings.append(f"{source}: unknown setting {key!r} ignored")
            continue
        if key == "sandbox.unmask" and not user_file:
            # Exposing a secret is the user's decision alone: not a repository's, even a
            # trusted one (trust is about the sandbox's scale, not about the user's keys).
            config.warnings.append(f"{source}: sandbox.unmask is read from your own config "
                                   f"file only ({paths.user_config_file()}); ignored")
            continue
        attr, parse = SETTINGS[key]
        try:
            value = parse(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from exc
        if key == "sandbox.masked_paths":
            value = tuple(dict.fromkeys((*config.masked_paths, *value)))  # masks only add up
        elif key == "approval.deny":
            value = tuple(dict.fromkeys((*config.deny_rules, *value)))  # denials only add up
        elif key == "approval.allow":
            if clamp:
                config.warnings.append(
                    f"{source}: approval.allow would loosen the user's setting; ignored "
                    f"(run `tessera trust` in the repository to allow it)"
                )
                continue
            value = tuple(dict.fromkeys((*config.allow_rules, *value)))
        elif key == "sandbox.allow_domains" and clamp:
            value = _narrowed_domains(config, network_before, value, source)
        elif clamp and not _is_tighter_or_equal(key, getattr(config, attr), value):
            config.warnings.append(
                f"{source}: {key} = {raw!r} would loosen the user's setting; ignored "
                f"(run `tessera trust` in the repository to allow it)"
            )
            continue
        setattr(config, attr, value)
        if key == "verify.commands":
            config.verify_from_untrusted_repo = clamp
    config.sources.append(source)


def _narrowed_domains(config: Config, network: NetworkMode, proposed: tuple[DomainEntry, ...],
                      source: str) -> tuple[DomainEntry, ...]:  # fmt: skip
    """An untrusted repository's allow_domains, kept only as far as it narrows the user's.

    An entry the user's list covers is kept as it is. Where the user's mode is "on" any
    name may be reached already, so an uncovered entry still narrows the names that pass
    (should the repository also choose "allow-list"), but it opens no private address.
    """
    kept: list[DomainEntry] = []
    for entry in proposed:
        cover = next((mine for mine in config.allow_domains if mine.covers(entry)), None)
        if cover is not None:
            # A wildcard opens no private address, so neither does a name under it.
            grants = cover.grants_private and not cover.wildcard
            kept.append(replace(entry, grants_private=grants))
        elif network is NetworkMode.ON:
            kept.append(replace(entry, grants_private=False))
        else:
            config.warnings.append(
                f"{source}: sandbox.allow_domains entry {str(entry)!r} is not in the user's "
                "list and would widen it; ignored (run `tessera trust` in the repository to "
                "allow it)"
            )
    return tuple(kept)


def load_config(repo: Path | None = None, flags: dict[str, Any] | None = None) -> Config:
    config = Config()
    user_file = paths.user_config_file()
    if user_file.is_file():
        _apply(config, _read_toml(user_file), str(user_file), clamp=False, user_file=True)
    if repo is not None:
        project_file = paths.project_config_file(Path(repo))
        if project_file.is_file():
            state = trust_state(Path(repo))
            if state == "changed":
                config.warnings.append(
                    f"{project_file} changed since you trusted the repository: treated as "
                    "untrusted until you run `tessera trust` again"
                )
            _apply(config, _read_toml(project_file), str(project_file), clamp=state != "trusted")
    env_values = {key: os.environ[var] for var, key in ENVIRONMENT.items() if var in os.environ}
    if env_values:
        _apply(config, env_values, "environment", clamp=False)
    if flags:
        given = {key: value for key, value in flags.items() if value is not None}
        _apply(config, given, "command line", clamp=False)
    return config


# --- trust -----------------------------------------------------------------------------------
# Trust is given to a repository *and the exact content of its config file*, as direnv does:
# if anything (a model's command, a pulled commit) changes `.tessera/config.toml` afterwards,
# the repository is untrusted again until the user runs `tessera trust` once more.


def _trust_file() -> Path:
    return paths.data_dir() / "trusted.json"


def _read_trust() -> dict[str, str | None]:
    try:
        data = json.loads(_trust_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    entries = data.get("trusted", {})
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, str | None)}


def _config_digest(repo: Path) -> str | None:
    try:
        return hashlib.sha256(paths.project_config_file(repo).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def trusted_paths() -> list[str]:
    return sorted(_read_trust())


def trust_state(repo: Path) -> str:
    """"trusted", "untrusted", or "changed" (trusted, but the config changed since)."""
    key = str(repo.resolve())
    entries = _read_trust()
    if key not in entries:
        return "untrusted"
    return "trusted" if entries[key] == _config_digest(repo) else "changed"


def is_trusted(repo: Path) -> bool:
    return trust_state(repo) == "trusted"


def set_trusted(repo: Path, trusted: bool = True) -> None:
    entries = _read_trust()
    entries.pop(str(repo.resolve()), None)
    if trusted:
        entries[str(repo.resolve())] = _config_digest(repo)
    text = json.dumps({"trusted": dict(sorted(entries.items()))}, indent=2) + "\n"
    write_atomically(_trust_file(), text.encode())
