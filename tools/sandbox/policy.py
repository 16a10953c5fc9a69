"""What a sandboxed command may do. Pure data: built from config, read by the runner."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path


class SandboxMode(StrEnum):
    READ_ONLY = "read-only"
    WORKSPACE_WRITE = "workspace-write"
    FULL_ACCESS = "full-access"

    @property
    def rank(self) -> int:
        """Higher is looser; a repository may only move a setting down this scale."""
        return list(SandboxMode).index(self)


# Secrets that are never visible inside the sandbox, relative to $HOME.
DEFAULT_SECRET_PATHS: tuple[str, ...] = (
    ".ssh",
    ".aws",
    ".config/gh",
    ".netrc",
    ".npmrc",
    ".docker",
    ".kube",
    ".gnupg",
    ".git-credentials",
    ".config/gcloud",
    ".pypirc",
)

# Variables copied from the host environment into the sandbox; everything else is dropped.
DEFAULT_ENV_ALLOWLIST: tuple[str, ...] = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "SHELL",
    "VIRTUAL_ENV",
)


@dataclass(frozen=True)
class SandboxPolicy:
    mode: SandboxMode = SandboxMode.WORKSPACE_WRITE
    network: bool = False
    # Deny AF_UNIX sockets too (host pathname sockets such as the docker socket escape otherwise).
    strict_unix: bool = False
    timeout_s: float = 120.0
    output_limit: int = 16 * 1024
    memory_bytes: int = 4 * 1024**3
    cpu_seconds: int = 600
    file_size_bytes: int = 1024**3
    max_pids: int = 256
    extra_masked_paths: tuple[str, ...] = ()
    env_allowlist: tuple[str, ...] = DEFAULT_ENV_ALLOWLIST
    extra_env: tuple[tuple[str, str], ...] = ()
    extra_writable: tuple[Path, ...] = field(default_factory=tuple)

    def with_(self, **changes: object) -> SandboxPolicy:
        return replace(self, **changes)  # type: ignore[arg-type]
