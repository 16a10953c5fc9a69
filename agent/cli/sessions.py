"""`tessera sessions`: the stored sessions, newest first. A session whose process was
killed shows as `interrupted` (agent/sessions.py), and `tessera run --resume` takes it.
`tessera sessions TEXT --repo DIR` searches them (task, messages, answers; repository)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("text", nargs="*", help="only sessions whose task, messages or "
                        "answers contain this text")
    parser.add_argument("--repo", default="", help="only sessions in this repository (a "
                        "directory, or any part of its path)")
    parser.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    parser.add_argument("--json", action="store_true", help="one JSON object per session")


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from dataclasses import asdict

    from agent.sessions import SessionStore

    store = SessionStore()
    try:
        sessions = store.search(" ".join(args.text), repo_filter(args.repo), args.limit)
    finally:
        store.close()
    if args.json:
        for info in sessions:
            print(json.dumps(asdict(info)))
        return 0
    if not sessions:
        print("no session matches" if args.text or args.repo else "no sessions yet")
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


def repo_filter(repo: str) -> str:
    """An existing directory stands for its resolved path; anything else is a part of one."""
    from pathlib import Path

    path = Path(repo).expanduser()
    return str(path.resolve()) if repo and path.is_dir() else repo
