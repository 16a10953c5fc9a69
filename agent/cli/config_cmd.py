"""`tessera config [--repo DIR]`: the effective configuration and where it came from."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository (default: cwd)")


def run(args: argparse.Namespace) -> int:
    from agent import paths
    from agent.config import SETTINGS, ConfigError, is_trusted, load_config

    try:
        cfg = load_config(args.repo.resolve())
    except ConfigError as exc:
        print(f"tessera config: {exc}")
        return 2
    print(f"user config:    {paths.user_config_file()}")
    print(f"project config: {paths.project_config_file(args.repo.resolve())}"
          f" ({'trusted' if is_trusted(args.repo) else 'untrusted: may only tighten'})")
    print(f"data dir:       {paths.data_dir()}")
    print(f"applied:        {', '.join(cfg.sources) or 'defaults only'}")
    print()
    for key, (attr, _) in SETTINGS.items():
        value = getattr(cfg, attr)
        shown = value.value if hasattr(value, "value") else value
        if isinstance(value, tuple):  # allow_domains entries print as they are written
            shown = [str(item) for item in value]
        print(f"{key:<22} = {shown!r}")
    for warning in cfg.warnings:
        print(f"warning: {warning}")
    return 0
