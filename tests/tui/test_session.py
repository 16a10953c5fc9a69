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


def test_a_switched_backend_and_effort_are_what_a_resume_continues_with(repo: Path) -> None:
    """`/model` and `/effort` are stored in the session: a resume continues on the switched
    backend (after the turns it already gave) with the chosen effort."""
    from tests.support import write_replay

    first = write_replay(repo.parent / "first.jsonl", ["From the first file.", "Never used."])
    second = write_replay(repo.parent / "second.jsonl", ["Second, turn one.", "Second, turn two."])
    session = ChatSession(ChatOptions(repo=repo, backend=f"replay:{first}"), Listener())
    asyncio.run(session.send("hello"))
    session.switch_backend(f"replay:{second}")
    session.set_effort("none")
    asyncio.run(session.send("again"))
    session.close()

    listener = Listener()
    resumed = ChatSession(ChatOptions(repo=repo, resume="last"), listener)
    resumed.load_resumed()
    assert resumed.backend_spec == f"replay:{second}"
    finish = asyncio.run(resumed.send("once more"))
    assert finish.status == "done" and finish.summary == "Second, turn two."
    assert resumed.loop is not None and resumed.loop.settings.effort.mode == "none"
    resumed.close()
