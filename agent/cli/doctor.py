"""`tessera doctor`: what works here, what is missing, and the fix for each."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository (default: cwd)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from agent.doctor import run_checks

    checks = run_checks(args.repo.resolve())
    failed_required = [c for c in checks if c.required and not c.ok]
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
        return 1 if failed_required else 0
    section = None
    for check in checks:
        if check.section != section:
            section = check.section
            print(f"\n{section}")
        mark = "ok " if check.ok else ("MISSING" if check.required else "-- ")
        print(f"  {mark:<7} {check.name:<26} {check.detail}")
        if not check.ok and check.fix:
            print(f"  {'':<7} {'':<26} fix: {check.fix}")
    print()
    if failed_required:
        print(f"{len(failed_required)} required item(s) missing: see the fixes above.")
        return 1
    print("Everything required is present.")
    return 0
