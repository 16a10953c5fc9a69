"""The session bridge without a screen: how it wires the loop to its listener."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from agent import events as ev
from agent.approval import CallFacts
from agent.backend import Delta
from tui.session import ChatOptions, ChatSession, SessionSetupError


class Listener:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.progress: list[tuple[str, str]] = []

    def session_event(self, event: ev.Event) -> None:
        self.events.append(event)

    def session_delta(self, delta: Delta) -> None:
        pass

    async def request_approval(self, facts: CallFacts, call: ev.ToolCall) -> str:
        return "deny"

    def session_progress(self, text: str) -> None:
        self.progress.append((threading.current_thread().name, text))


def test_the_local_backend_reports_engine_start_to_the_listener(repo: Path) -> None:
    listener = Listener()
    session = ChatSession(ChatOptions(repo=repo, backend="local"), listener)
    session.prepare()
    assert session.loop is not None and session.loop.backend.name == "local"
    report = session.loop.backend.progress
    thread = threading.Thread(target=report, args=("loading weights 40%",), name="engine")
    thread.start()
    thread.join()
    assert listener.progress == [("engine", "loading weights 40%")]
    session.close()


def test_bad_setups_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(SessionSetupError, match="unknown backend"):
        ChatSession(ChatOptions(repo=repo, backend="carrier-pigeon:x"), Listener()).prepare()
    with pytest.raises(SessionSetupError, match="not a directory"):
        ChatSession(ChatOptions(repo=tmp_path / "nope", backend="replay:x"), Listener()).prepare()
    with pytest.raises(SessionSetupError, match="no session"):
        ChatSession(ChatOptions(repo=repo, resume="missing"), Listener()).load_resumed()


def test_the_listeners_denial_reaches_the_loop(repo: Path) -> None:
    from tests.support import call, write_replay
    from tests.tui.conftest import CALC

    replay = write_replay(
        repo.parent / "t.jsonl",
        [call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"), "ok"],
    )
    listener = Listener()
    session = ChatSession(ChatOptions(repo=repo, backend=f"replay:{replay}"), listener)
    finish = asyncio.run(session.send("fix"))
    assert finish.status == "done"
    decisions = [e.decision for e in listener.events if isinstance(e, ev.Approval)]
    assert decisions == ["requested", "denied"]
    assert (repo / "calc.py").read_text() == CALC
    session.close()
