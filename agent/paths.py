"""Where Tessera keeps its configuration and state (XDG, with TESSERA_HOME as override)."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tessera"


def user_config_file() -> Path:
    return config_dir() / "config.toml"


def data_dir() -> Path:
    """State: sessions, logs, caches, the trust list. TESSERA_HOME wins over XDG."""
    if home := os.environ.get("TESSERA_HOME"):
        return Path(home)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tessera"


def project_config_file(repo: Path) -> Path:
    return repo / ".tessera" / "config.toml"
