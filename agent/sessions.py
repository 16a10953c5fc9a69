"""Sessions in SQLite (WAL) in the data dir: every event stored before it is shown.

Tables: `sessions` (one row per session, with its status), `events` (the stream, in
order), and `tool_calls` (each call's status: `pending` when the model made it, then
`done` or `denied`). A call still `pending` after a crash either never started or was
interrupted; `--resume` never runs a `done` call again, re-runs interrupted reads (they
change nothing), and tells the model that an interrupted write or command has an unknown
effect rather than repeating it.

A session is `running` from its first event (or the first event a resume adds) until its
`finish`. The process that stores its events owns it (`owner_*` columns: see
`ProcessOwner`); a `running` session whose owner process is gone (killed, crashed, the
machine rebooted) reads as `interrupted`, and `--resume` continues it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass, replace
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
    steps INTEGER NOT NULL DEFAULT 0,
    owner_pid INTEGER,
    owner_start TEXT,
    owner_host TEXT
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
# Added after the first release: a database made before them gets them on open.
OWNER_COLUMNS = {"owner_pid": "INTEGER", "owner_start": "TEXT", "owner_host": "TEXT"}
OWNER_SELECT = (
    "id, created, updated, task, repo, backend, status, steps, owner_pid, owner_start, owner_host"
)
INTERRUPTED = "interrupted"


class SessionNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ProcessOwner:
    """The process that runs a session, recognisable after it is gone: a pid alone may
    be reused, so it comes with the process's start (boot id and start time in clock
    ticks, /proc/PID/stat field 22) and the host name."""

    pid: int
    start: str  # "" where /proc is not there to ask
    host: str

    @classmethod
    def current(cls) -> ProcessOwner:
        return cls(os.getpid(), process_start(os.getpid()) or "", socket.gethostname())

    def alive(self) -> bool | None:
        """Whether this process still runs; None when it is on another host (unknowable)."""
        if self.host != socket.gethostname():
            return None
        if Path("/proc/self/stat").exists():
            return process_start(self.pid) == self.start
        try:  # no /proc: the pid is all there is to go on
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def process_start(pid: int) -> str | None:
    """Boot id and start time of a running process; None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The fields after the command name, which may itself hold spaces and parentheses.
    after_name = stat[stat.rindex(")") + 2 :].split()
    state, start_ticks = after_name[0], after_name[19]
    if state in ("Z", "X"):  # killed but not yet reaped: it runs no more
        return None
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{boot}:{start_ticks}"


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
        self._add_missing_columns()
        self.owner = ProcessOwner.current()
        # Sessions this store has claimed for its process (first event it stores for each).
        self._owned: set[str] = set()

    def _add_missing_columns(self) -> None:
        if not self._missing_columns():
            return
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait
            for name in self._missing_columns():
                self.db.execute(f"ALTER TABLE sessions ADD COLUMN {name} {OWNER_COLUMNS[name]}")

    def _missing_columns(self) -> list[str]:
        present = {row[1] for row in self.db.execute("PRAGMA table_info(sessions)")}
        return [name for name in OWNER_COLUMNS if name not in present]

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
            if session_id not in self._owned:
                # This process runs the session now: a new one, or a resumed one whose
                # earlier owner finished, stopped or died.
                self.db.execute(
                    "UPDATE sessions SET status = 'running', owner_pid = ?, owner_start = ?, "
                    "owner_host = ? WHERE id = ?",
                    (self.owner.pid, self.owner.start, self.owner.host, session_id),
                )
                self._owned.add(session_id)
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
            f"SELECT {OWNER_SELECT} FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        return _session_info(row) if row else None

    def running_elsewhere(self, session_id: str) -> ProcessOwner | None:
        """The process that runs `session_id` now, when it is another one than ours and
        still alive (or on another host, where that cannot be known): a session has one
        writer at a time, so a resume must wait for it."""
        row = self.db.execute(
            "SELECT status, owner_pid, owner_start, owner_host FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
        if row is None or row[0] != "running" or not row[1]:
            return None
        owner = ProcessOwner(row[1], row[2] or "", row[3] or "")
        if owner == self.owner or owner.alive() is False:
            return None
        return owner

    def list(self, limit: int = 50) -> list[SessionInfo]:
        """Newest first; a `running` session whose owner process is gone is `interrupted`."""
        rows = self.db.execute(
            f"SELECT {OWNER_SELECT} FROM sessions ORDER BY updated DESC, rowid DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [_session_info(row) for row in rows]

    def search(self, text: str = "", repo: str = "", limit: int = 50) -> list[SessionInfo]:
        """Newest first, the sessions whose task, messages or answers contain `text` and
        whose repository path contains `repo` (case-insensitive for ASCII; empty: any)."""
        clauses, params = [], []
        if repo:
            clauses.append("repo LIKE ? ESCAPE '\\'")
            params.append(f"%{_like(repo)}%")
        if text:
            # Event bodies are JSON: the text is looked for as JSON writes it.
            clauses.append(
                "(task LIKE ? ESCAPE '\\' OR id IN (SELECT session_id FROM events WHERE "
                "type IN ('user_message', 'text') AND body LIKE ? ESCAPE '\\'))"
            )
            params += [f"%{_like(text)}%", f"%{_like(json.dumps(text, ensure_ascii=False)[1:-1])}%"]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.execute(
            f"SELECT {OWNER_SELECT} FROM sessions {where} "
            "ORDER BY updated DESC, rowid DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [_session_info(row) for row in rows]

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


def _like(text: str) -> str:
    """`text` matched literally by LIKE ... ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _session_info(row: tuple) -> SessionInfo:
    """A row as the user should see it: `running` only while its owner still runs."""
    info = SessionInfo(*row[:8])
    pid, start, host = row[8:]
    if info.status != "running":
        return info
    # A session stored before owners were recorded has no owner to ask; an older version
    # left it running, and listing it as interrupted lets it be resumed.
    owner_alive = ProcessOwner(pid, start or "", host or "").alive() if pid else False
    return replace(info, status=INTERRUPTED) if owner_alive is False else info
