"""SIGKILL `tessera run` at random moments, resume with --last until it finishes: no event
that was shown is lost, and no tool call that completed runs again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import events as ev
from agent.sessions import SessionStore
from tests.support import call, write_replay

STEPS = 6


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(repo: Path, isolated_home: Path) -> None:
    turns = [call("bash", command=f"echo {n} >> log.txt") for n in range(STEPS)]
    turns.append("Logged every number.")
    replay = write_replay(repo.parent / "t.jsonl", turns)
    env = {**os.environ, "XDG_CONFIG_HOME": str(isolated_home / "config"),
           "TESSERA_HOME": str(isolated_home / "data")}
    rng = random.Random(11)
    shown: list[str] = []
    resumed = 0
    db = isolated_home / "data" / "sessions.db"
    for attempt in range(12):
        # Killed before its session was stored, a run simply starts again.
        first = not db.exists() or not _has_session(db)
        resumed += not first
        argv = [sys.executable, "-m", "agent", "run", *(["log the numbers"] if first else []),
                "--repo", str(repo), "--backend", f"replay:{replay}", "--approval", "auto",
                "--repo-map-tokens", "0", "--json", *([] if first else ["--last"])]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                text=True, cwd=Path(__file__).resolve().parents[2])
        if attempt < 10:
            time.sleep(rng.uniform(0.5, 2.5))  # a whole run takes about 3.5 s
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
        shown += out.splitlines()
        code = proc.returncode
        assert code in (0, -signal.SIGKILL), (err, out[-2000:])
        if _finished(db):  # possibly killed after its last event, before exiting
            break
    assert _finished(db), "the run never finished"
    assert resumed >= 1
    store = SessionStore(isolated_home / "data" / "sessions.db")
    [info] = store.list()
    stored = store.events(info.id)
    stored_lines = {e.to_json() for e in stored}
    # Shown lines may end mid-line when killed; every complete one was stored first.
    complete = [line for line in shown if line.endswith("}")]
    assert all(line in stored_lines for line in complete if _is_json(line))
    results = [e for e in stored if isinstance(e, ev.ToolResult)]
    calls = [e for e in stored if isinstance(e, ev.ToolCall)]
    assert len({r.call_id for r in results}) == len(results)  # one result per call
    logged = (repo / "log.txt").read_text().split() if (repo / "log.txt").exists() else []
    assert len(logged) == len(set(logged)), f"a completed command ran twice: {logged}"
    done = [r for r in results if r.ok]
    assert len(logged) >= len(done)
    assert len(calls) >= STEPS
    assert isinstance(stored[-1], ev.Finish) and stored[-1].status == "done"
    assert info.status == "done"


def _finished(db: Path) -> bool:
    store = SessionStore(db)
    try:
        [info] = store.list(1) or [None]
        return info is not None and info.status == "done"
    finally:
        store.close()


def _has_session(db: Path) -> bool:
    store = SessionStore(db)
    try:
        return bool(store.list(1))
    finally:
        store.close()


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True
