"""Where an engine's state lives and how it is read back by other processes."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.atomic import write_atomically


@dataclass(frozen=True)
class EnginePaths:
    root: Path

    @classmethod
    def under(cls, data_dir: str | Path) -> EnginePaths:
        return cls(Path(data_dir) / "engine")

    @property
    def info(self) -> Path:
        return self.root / "engine.json"

    @property
    def api_key(self) -> Path:
        return self.root / "api-key"

    @property
    def log(self) -> Path:
        return self.root / "engine.log"

    @property
    def moe_stats(self) -> Path:
        return self.root / "moe-stats"


@dataclass
class EngineInfo:
    """What a client needs to reach a running engine (the key is read from its own file)."""

    pid: int
    host: str
    port: int
    model: str
    served_model_name: str
    started_at: float
    command: list[str] = field(default_factory=list)
    foreground: bool = False
    supervisor: int | None = None  # `tessera serve`'s pid, which stops the engine's tree
    # A headless follower node of a multi-node engine serves no API here; this says whose.
    follower_of: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def write(self, paths: EnginePaths) -> None:
        write_atomically(paths.info, json.dumps(asdict(self), indent=2).encode())

    @classmethod
    def read(cls, paths: EnginePaths) -> EngineInfo | None:
        try:
            data = json.loads(paths.info.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


def ensure_api_key(paths: EnginePaths) -> str:
    """The engine's key: made once, random, readable by this user only (0600)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    if paths.api_key.exists():
        key = paths.api_key.read_text().strip()
        if key:
            os.chmod(paths.api_key, 0o600)
            return key
    key = "tessera-" + secrets.token_urlsafe(32)
    fd = os.open(paths.api_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    os.chmod(paths.api_key, 0o600)
    return key


def read_api_key(paths: EnginePaths) -> str | None:
    try:
        return paths.api_key.read_text().strip() or None
    except OSError:
        return None
