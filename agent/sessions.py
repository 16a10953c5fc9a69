"""Sessions in SQLite (WAL) in the data dir: every event stored before it is shown.

Tables: `sessions` (one row per session, with its status), `events` (the stream, in
order), and `tool_calls` (each call's status: `pending` when the model made it, then
`done` or `denied`). A call still `pending` after a crash either never started or was
interrupted; `--resume` never runs a `done` call again, re-runs interrupted reads (they
change nothing), and tells the model that an interrupted write or command has an unknown
effect rather than repeating it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from agent import events as ev
from agent import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    task TEXT NOT NULL,
    repo TEXT NOT NULL,
    backend TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    steps INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS tool_calls (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (session_id, call_id)
);
"""


class SessionNotFound(LookupError):
    pass


@dataclass(frozen=True)
class SessionInfo:
    id: str
    created: float
    updated: float
    task: str
    repo: str
    backend: str
    status: str
    steps: int


def default_db_path() -> Path:
    return paths.data_dir() / "sessions.db"


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


class SessionStore:
    def __init__(self, path: Path | None = None):
        self.path = path or default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only a power loss may drop the tail.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def append(self, session_id: str, event: ev.Event) -> None:
        """Store one event (and what it says about the session) in one transaction."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if isinstance(event, ev.SessionStart):
                self.db.execute(
                    "INSERT INTO sessions (id, created, updated, task, repo, backend) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (session_id, now, now, event.task, event.repo, event.backend),
                )
            seq = self.db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id = ?",
                (session_id,),
            ).fetchone()[0]
            self.db.execute(
                "INSERT INTO events (session_id, seq, type, body) VALUES (?, ?, ?, ?)",
                (session_id, seq, event.type, event.to_json()),
            )
            self._track(session_id, event)
            self.db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))

    def _track(self, session_id: str, event: ev.Event) -> None:
        match event:
            case ev.ToolCall(id=call_id, name=name):
                self.db.execute(
                    "INSERT OR REPLACE INTO tool_calls VALUES (?, ?, ?, 'pending')",
                    (session_id, call_id, name),
                )
            case ev.Approval(call_id=call_id, decision="denied"):
                self._set_call(session_id, call_id, "denied")
            case ev.ToolResult(call_id=call_id):
                self.db.execute(
                    "UPDATE tool_calls SET status = 'done' WHERE session_id = ? AND call_id = ? "
                    "AND status = 'pending'",
                    (session_id, call_id),
                )
            case ev.Effort(step=step):
                self.db.execute("UPDATE sessions SET steps = ? WHERE id = ?", (step, session_id))
            case ev.Finish(status=status):
                self.db.execute(
                    "UPDATE sessions SET status = ? WHERE id = ?", (status, session_id)
                )
            case _:
                pass

    def _set_call(self, session_id: str, call_id: str, status: str) -> None:
        self.db.execute(
            "UPDATE tool_calls SET status = ? WHERE session_id = ? AND call_id = ?",
            (status, session_id, call_id),
        )

    def events(self, session_id: str) -> list[ev.Event]:
        rows = self.db.execute(
            "SELECT body FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
        if not rows and self.info(session_id) is None:
            raise SessionNotFound(f"no session {session_id!r}")
        return [ev.from_json(body) for (body,) in rows]

    def call_statuses(self, session_id: str) -> dict[str, str]:
        rows = self.db.execute(
            "SELECT call_id, status FROM tool_calls WHERE session_id = ?", (session_id,)
        ).fetchall()
        return dict(rows)

    def info(self, session_id: str) -> SessionInfo | None:
        row = self.db.execute(
            "SELECT id, created, updated, task, repo, backend, status, steps FROM sessions "
            "WHERE id = ?",
            (session_id,),
        ).fetchone()
        return SessionInfo(*row) if row else None

    def list(self, limit: int = 50) -> list[SessionInfo]:
        rows = self.db.execute(
            "SELECT id, created, updated, task, repo, backend, status, steps FROM sessions "
            "ORDER BY updated DESC, rowid DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [SessionInfo(*row) for row in rows]

    def resolve(self, ref: str) -> str:
        """A full id, a unique prefix of one, or `last`."""
        if ref == "last":
            sessions = self.list(1)
            if not sessions:
                raise SessionNotFound("there are no sessions yet")
            return sessions[0].id
        rows = self.db.execute(
            "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\'",
            (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        ).fetchall()
        if len(rows) != 1:
            raise SessionNotFound(
                f"no session matches {ref!r}" if not rows else f"{ref!r} matches several sessions"
            )
        return rows[0][0]
