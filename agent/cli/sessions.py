"""`tessera sessions`: the stored sessions, newest first. A session whose process was
killed shows as `interrupted` (agent/sessions.py), and `tessera run --resume` takes it."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    parser.add_argument("--json", action="store_true", help="one JSON object per session")


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from dataclasses import asdict

    from agent.sessions import SessionStore

    store = SessionStore()
    try:
        sessions = store.list(args.limit)
    finally:
        store.close()
    if args.json:
        for info in sessions:
            print(json.dumps(asdict(info)))
        return 0
    if not sessions:
        print("no sessions yet")
        return 0
    for info in sessions:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
        task = " ".join(info.task.split())
        task = task if len(task) <= 60 else task[:57] + "..."
        print(f"{info.id}  {when}  {info.status:<11} {info.steps:>3} steps  {task}  ({info.repo})")
    print(
        "\ncontinue one with `tessera run --resume ID` or `tessera run --last`"
        " (`interrupted`: its process is gone)"
    )
    return 0
