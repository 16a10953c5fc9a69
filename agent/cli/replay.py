"""`tessera replay SESSION --repo DIR`: run a stored session again from its raw model output.

The session's recorded turns become a `replay:FILE` and its task runs again under the
same approval and effort settings, so a session is a reproducible bug report. Replaying
repeats the session's edits and commands, so it runs in the repository you name (a fresh
checkout), never implicitly in the original one. `--export FILE` only writes the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("session", help="session id (or a unique prefix), or `last`")
    parser.add_argument("--repo", type=Path, help="where to replay it (e.g. a fresh checkout)")
    parser.add_argument("--export", type=Path, metavar="FILE",
                        help="only write the session's turns as a replay file")
    parser.add_argument("--json", action="store_true", help="one JSON event per line")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from agent import events as ev
    from agent.cli.run import EXIT_CODES
    from agent.headless import RunOptions, run_headless
    from agent.plan import planned_task
    from agent.replay import session_turns, subagent_turns, write_turns
    from agent.session_driver import SessionSetupError
    from agent.sessions import SessionNotFound, SessionStore, default_db_path

    store = SessionStore()
    try:
        session_id = store.resolve(args.session)
        events = store.events(session_id)
    except SessionNotFound as exc:
        print(f"tessera replay: {exc}")
        return 1
    finally:
        store.close()
    start = events[0]
    assert isinstance(start, ev.SessionStart)
    turns = session_turns(events)
    target = args.export or default_db_path().parent / "replays" / f"{session_id}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_turns(target, turns, subagent_turns(events))
    if args.export:
        print(f"{len(turns)} turn(s) of session {session_id} written to {target}")
        return 0
    if args.repo is None:
        print("tessera replay: name the repository to replay in with --repo DIR (replaying "
              "repeats the session's edits and commands), or use --export FILE")
        return 1
    if any(isinstance(e, ev.UserMessage) and e.origin == "user" for e in events):
        print("tessera replay: note: follow-up messages of the session are not replayed")
    planned = planned_task(start.task)  # a plan-mode session replays in plan mode
    options = RunOptions(
        task=start.task if planned is None else planned, plan=planned is not None,
        repo=args.repo, backend=f"replay:{target}", effort=start.effort,
        approval=start.approval, json=args.json, max_steps=10_000,
        repo_map_tokens=0 if "# Repository map" not in start.system_prompt else 1024,
        # The task's images, from the session's image store (the same content).
        images=[Path(image["path"]) for image in start.images],
    )
    try:
        finish = asyncio.run(run_headless(options))
    except SessionSetupError as exc:
        print(f"tessera replay: {exc}")
        return 1
    return EXIT_CODES.get(finish.status, 1)
