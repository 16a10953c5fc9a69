"""Who runs a session: the store records the owner process, lists a running session whose
owner is gone as interrupted, and opens databases made before owners were recorded."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from agent import events as ev
from agent.sessions import ProcessOwner, SessionStore

START = ev.SessionStart("s1", "do it", "/repo", "replay:x", "auto", "auto")


def start_session(db: Path) -> SessionStore:
    store = SessionStore(db)
    store.append("s1", START)
    store.append("s1", ev.Effort(1, "high", "plan"))
    return store


def set_owner(store: SessionStore, pid: int, start: str, host: str) -> None:
    store.db.execute(
        "UPDATE sessions SET owner_pid = ?, owner_start = ?, owner_host = ? WHERE id = 's1'",
        (pid, start, host),
    )


def status(db: Path) -> str:
    store = SessionStore(db)  # another reader, as `tessera sessions` is
    try:
        [info] = store.list()
        assert store.info("s1") == info
        return info.status
    finally:
        store.close()


def test_a_session_runs_while_its_process_does_then_finishes(tmp_path: Path) -> None:
    store = start_session(tmp_path / "s.db")
    assert status(tmp_path / "s.db") == "running"
    store.append("s1", ev.Finish("done", "ok", 1))
    assert status(tmp_path / "s.db") == "done"


def test_a_gone_owner_reads_as_interrupted(tmp_path: Path) -> None:
    store = start_session(tmp_path / "s.db")
    child = subprocess.Popen(["true"])
    child.wait()  # exited and reaped: its pid runs nothing now
    me = ProcessOwner.current()
    set_owner(store, child.pid, me.start, me.host)
    assert status(tmp_path / "s.db") == "interrupted"


def test_a_reused_pid_is_not_the_owner(tmp_path: Path) -> None:
    store = start_session(tmp_path / "s.db")
    me = ProcessOwner.current()
    set_owner(store, me.pid, me.start + "0", me.host)  # our pid, another process's start
    assert status(tmp_path / "s.db") == "interrupted"


def test_an_owner_on_another_host_cannot_be_judged_and_stays_running(tmp_path: Path) -> None:
    store = start_session(tmp_path / "s.db")
    set_owner(store, 1, "boot:1", "another-host.example")
    assert status(tmp_path / "s.db") == "running"


def test_resuming_takes_the_session_over(tmp_path: Path) -> None:
    store = start_session(tmp_path / "s.db")
    set_owner(store, 999_999_999, "gone", ProcessOwner.current().host)
    store.close()
    assert status(tmp_path / "s.db") == "interrupted"
    resumed = SessionStore(tmp_path / "s.db")
    resumed.append("s1", ev.UserMessage("continue"))
    assert status(tmp_path / "s.db") == "running"
    resumed.append("s1", ev.Finish("budget", "out of steps", 2))
    assert status(tmp_path / "s.db") == "budget"
    again = SessionStore(tmp_path / "s.db")  # a budget-stopped run continued is running again
    again.append("s1", ev.Effort(3, "none", "routine"))
    assert status(tmp_path / "s.db") == "running"


def test_a_database_made_before_owners_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    old.executescript(
        """
        CREATE TABLE sessions (id TEXT PRIMARY KEY, created REAL NOT NULL,
            updated REAL NOT NULL, task TEXT NOT NULL, repo TEXT NOT NULL,
            backend TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'running',
            steps INTEGER NOT NULL DEFAULT 0);
        INSERT INTO sessions (id, created, updated, task, repo, backend, status)
            VALUES ('old-done', 1, 1, 't', '/r', 'replay:x', 'done'),
                   ('old-left', 2, 2, 't', '/r', 'replay:x', 'running');
        """
    )
    old.close()
    store = SessionStore(db)
    by_id = {info.id: info.status for info in store.list()}
    # Left running by a version that recorded no owner: resumable, not running forever.
    assert by_id == {"old-done": "done", "old-left": "interrupted"}
    store.append("new", ev.SessionStart("new", "t", "/r", "replay:x", "auto", "auto"))
    assert store.info("new").status == "running"
    store.close()
    assert {info.id for info in SessionStore(db).list()} == {"old-done", "old-left", "new"}


def test_a_session_another_live_process_runs_cannot_be_resumed(tmp_path: Path) -> None:
    from agent.session_driver import SessionDriver, SessionOptions, SessionSetupError

    db = tmp_path / "s.db"
    store = start_session(db)
    other = subprocess.Popen(["sleep", "60"])
    try:
        from agent.sessions import process_start

        start = process_start(other.pid)
        assert start is not None
        set_owner(store, other.pid, start, ProcessOwner.current().host)
        driver = SessionDriver(SessionOptions(repo=tmp_path, resume="s1", db_path=db))
        with pytest.raises(SessionSetupError, match=f"running in process {other.pid}"):
            driver.open()
        driver.close()
    finally:
        other.kill()
        other.wait()
    # Its owner gone, the same resume takes the session.
    driver = SessionDriver(SessionOptions(repo=tmp_path, resume="s1", db_path=db))
    assert driver.open()[0] == START
    driver.close()
    # The process that runs a session now may reopen it (the chat's /resume of its own).
    mine = SessionStore(db)
    mine.append("s1", ev.Effort(2, "high", "go on"))
    assert status(db) == "running"
    assert mine.running_elsewhere("s1") is None
    mine.close()
