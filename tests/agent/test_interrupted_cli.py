"""A `tessera run` killed mid-command: `tessera sessions` lists it as interrupted (its
owner process is gone), and `tessera run --resume ID` continues it to the end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent import events as ev
from tests.support import call, write_replay

PROJECT = Path(__file__).resolve().parents[2]
ANSWER = "Carried on after the interruption."


def tessera(env: dict[str, str], *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agent", *argv], env=env, cwd=PROJECT, capture_output=True,
        text=True, timeout=timeout,
    )


def start_and_kill_mid_command(env: dict[str, str], argv: list[str]) -> str:
    """Start a run, SIGKILL it while its `sleep 30` runs; the session id."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", *argv], env=env, cwd=PROJECT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    session_id = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # each event is stored before it is printed
            event = ev.from_json(line)
            if isinstance(event, ev.SessionStart):
                session_id = event.session_id
            if isinstance(event, ev.Approval) and event.decision == "granted":
                break  # the command starts now
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        # The sandboxed `sleep` the run started outlives it: end it with its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and session_id
    return session_id


def listed_status(env: dict[str, str], session_id: str) -> str:
    listed = tessera(env, "sessions", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [json.loads(line) for line in listed.stdout.splitlines()
             if json.loads(line)["id"] == session_id]
    return row["status"]


@pytest.mark.slow
def test_a_killed_run_is_listed_interrupted_and_resumes(repo: Path, isolated_home: Path) -> None:
    replay = write_replay(repo.parent / "t.jsonl", [call("bash", command="sleep 30"), ANSWER])
    env = {**os.environ, "XDG_CONFIG_HOME": str(isolated_home / "config"),
           "TESSERA_HOME": str(isolated_home / "data")}
    base = ["--repo", str(repo), "--backend", f"replay:{replay}", "--approval", "auto",
            "--repo-map-tokens", "0", "--json"]
    session_id = start_and_kill_mid_command(env, ["run", "wait a while", *base])

    assert listed_status(env, session_id) == "interrupted"
    human = tessera(env, "sessions")
    [line] = [row for row in human.stdout.splitlines() if row.startswith(session_id)]
    assert " interrupted " in line

    resumed = tessera(env, "run", "--resume", session_id, "continue", *base)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout[-2000:]
    events = [ev.from_json(line) for line in resumed.stdout.splitlines()]
    [interrupted] = [e for e in events if isinstance(e, ev.ToolResult)]
    assert interrupted.name == "bash" and "interrupted" in interrupted.output
    assert any(isinstance(e, ev.Text) and e.text == ANSWER for e in events)
    assert isinstance(events[-1], ev.Finish) and events[-1].status == "done"
    assert listed_status(env, session_id) == "done"
