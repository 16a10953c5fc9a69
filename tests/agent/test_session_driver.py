"""The session driver: store first, then every consumer; collaborators given at
construction reach the loop; a resume continues with the latest stored settings; a
profile shapes the tools, the policies and how a run ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import events as ev
from agent.approval import CallFacts
from agent.backend import Delta, TextDelta
from agent.session_driver import (
    UNKNOWN_WINDOW_LIMIT,
    Profile,
    SessionDriver,
    SessionOptions,
    SessionSetupError,
)
from agent.sessions import SessionStore
from tests.agent.backends.fake_openai import FakeOpenAIServer, Reply, chunk
from tests.agent.conftest import CALC_BUGGY, of_type
from tests.support import call, write_replay

FIX = call("edit_file", path="calc.py", old_string="a - b", new_string="a + b")


def options(repo: Path, turns: list[str], name: str = "turns.jsonl", **changes) -> SessionOptions:
    replay = write_replay(repo.parent / name, turns)
    return SessionOptions(repo, backend=f"replay:{replay}", repo_map_tokens=0, **changes)


def test_each_event_is_stored_before_any_consumer_sees_it(repo: Path) -> None:
    driver = SessionDriver(options(repo, ["Hello."]))
    stored_when_seen: list[bool] = []

    def consumer(event: ev.Event) -> None:
        assert driver.session_id is not None
        stored_when_seen.append(driver.store.events(driver.session_id)[-1] == event)

    driver.subscribe(consumer)
    finish = asyncio.run(driver.start("say hello"))
    assert finish.status == "done" and finish.summary == "Hello."
    assert stored_when_seen and all(stored_when_seen)
    driver.close()


def test_a_failing_consumer_breaks_neither_storage_nor_the_others(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    driver = SessionDriver(options(repo, ["Hello."]))
    seen: list[ev.Event] = []

    def broken(event: ev.Event) -> None:
        raise RuntimeError("the display fell over")

    driver.subscribe(broken)
    driver.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="agent.session_driver"):
        finish = asyncio.run(driver.start("say hello"))
    assert finish.status == "done"
    assert driver.session_id is not None
    assert driver.store.events(driver.session_id) == seen
    assert "the display fell over" in caplog.text and "session_start" in caplog.text
    driver.close()


def test_an_unsubscribed_consumer_sees_nothing_more(repo: Path) -> None:
    driver = SessionDriver(options(repo, ["One.", "Two."]))
    first: list[ev.Event] = []
    unsubscribe = driver.subscribe(first.append)
    asyncio.run(driver.start("one"))
    unsubscribe()
    asyncio.run(driver.send("two"))
    assert isinstance(first[-1], ev.Finish) and first[-1].summary == "One."
    assert driver.session_id is not None
    assert len(driver.store.events(driver.session_id)) > len(first)
    driver.close()


def test_the_approver_and_the_live_stream_are_the_loops_from_construction(repo: Path) -> None:
    asked: list[str] = []
    deltas: list[Delta] = []

    async def approver(facts: CallFacts, call_event: ev.ToolCall) -> str:
        asked.append(call_event.name)
        return "deny"

    driver = SessionDriver(options(repo, [FIX, "Left it."], approval="ask"),
                           approver=approver, on_delta=deltas.append)
    seen: list[ev.Event] = []
    driver.subscribe(seen.append)
    assert asyncio.run(driver.send("fix add")).status == "done"  # send starts a session
    assert asked == ["edit_file"]
    assert [a.decision for a in of_type(seen, ev.Approval)] == ["requested", "denied"]
    assert (repo / "calc.py").read_text() == CALC_BUGGY
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "Left it."
    driver.close()


def test_resume_continues_with_the_latest_backend_and_effort(repo: Path) -> None:
    second = write_replay(repo.parent / "second.jsonl", ["Second one.", "Second two."])
    driver = SessionDriver(options(repo, ["First one.", "First two."]))
    asyncio.run(driver.start("hello"))
    driver.switch_backend(f"replay:{second}")
    driver.set_effort("none")
    asyncio.run(driver.send("again"))
    session_id = driver.session_id
    driver.close()

    resumed = SessionDriver(SessionOptions(repo, resume="last", repo_map_tokens=0))
    events = resumed.open()
    assert resumed.session_id == session_id and resumed.backend_spec == f"replay:{second}"
    assert [(e.backend, e.effort) for e in of_type(events, ev.SettingsChange)] == [
        (f"replay:{second}", None), (None, "none")]
    finish = asyncio.run(resumed.send("once more"))
    assert finish.summary == "Second two."  # the turn it gave before the resume is skipped
    assert resumed.loop is not None and resumed.loop.settings.effort.mode == "none"
    resumed.close()

    overridden = SessionDriver(SessionOptions(repo, resume=session_id[:12], effort="high"))
    overridden.open()
    assert overridden.options.effort == "high"  # what the caller names wins
    assert overridden.options.backend == f"replay:{second}"
    overridden.close()


def test_a_switch_before_the_resumed_loop_is_built_starts_the_new_replay_at_its_top(
    repo: Path,
) -> None:
    driver = SessionDriver(options(repo, ["First."]))
    asyncio.run(driver.start("hello"))
    driver.close()
    other = write_replay(repo.parent / "other.jsonl", ["Other, from its first turn."])
    resumed = SessionDriver(SessionOptions(repo, resume="last"))
    resumed.switch_backend(f"replay:{other}")
    finish = asyncio.run(resumed.send("go on"))
    assert finish.summary == "Other, from its first turn."
    resumed.close()


def test_settings_before_the_session_starts_go_into_its_start(repo: Path) -> None:
    other = write_replay(repo.parent / "other.jsonl", ["Fine."])
    driver = SessionDriver(options(repo, ["unused"]))
    driver.switch_backend(f"replay:{other}")
    driver.set_effort("high")
    seen: list[ev.Event] = []
    driver.subscribe(seen.append)
    asyncio.run(driver.start("hi"))
    start = seen[0]
    assert isinstance(start, ev.SessionStart)
    assert (start.backend, start.effort) == (f"replay:{other}", "high")
    assert not of_type(seen, ev.SettingsChange)
    with pytest.raises(ValueError, match="effort must be one of"):
        driver.set_effort("maximum")
    driver.close()


def test_a_profile_picks_tools_forces_policies_and_closes_runs(repo: Path) -> None:
    def close_run(finish: ev.Finish) -> list[ev.Event]:
        return [ev.Error("closing note", step=finish.steps), ev.Finish("done", "closed", 7)]

    profile = Profile("reader", tools=lambda tools: [t for t in tools if t.name == "read_file"],
                      approval="read-only", effort="high", checkpoints=False,
                      instructions="Only read.", close_run=close_run)
    driver = SessionDriver(options(repo, [FIX, "Could not edit."], approval="auto"), profile)
    seen: list[ev.Event] = []
    driver.subscribe(seen.append)
    finish = asyncio.run(driver.start("fix add"))
    assert finish == ev.Finish("done", "closed", 7)
    assert [e.type for e in seen[-2:]] == ["error", "finish"] and len(of_type(seen, ev.Finish)) == 1
    start = seen[0]
    assert isinstance(start, ev.SessionStart)
    assert (start.approval, start.effort) == ("read-only", "high")
    assert start.system_prompt.endswith("\n\nOnly read.")
    assert driver.loop is not None
    assert [t.name for t in driver.loop.settings.tools] == ["read_file"]
    [result] = of_type(seen, ev.ToolResult)
    assert not result.ok and "unknown tool 'edit_file'" in result.output
    assert (repo / "calc.py").read_text() == CALC_BUGGY
    driver.close()


def test_finishing_without_the_model_stores_a_short_session(repo: Path) -> None:
    driver = SessionDriver(options(repo, []))
    finish = asyncio.run(driver.finish_without_model("review nothing", "nothing to review"))
    assert finish == ev.Finish("done", "nothing to review", 0)
    assert driver.session_id is not None
    assert [e.type for e in driver.store.events(driver.session_id)] == ["session_start", "finish"]
    driver.close()


def test_setup_problems_are_session_setup_errors(repo: Path, tmp_path: Path) -> None:
    cases = [
        (SessionOptions(repo, backend="carrier-pigeon:x"), "unknown backend"),
        (SessionOptions(tmp_path / "nope", backend="replay:x"), "not a directory"),
        (SessionOptions(repo, resume="missing"), "no session"),
        (SessionOptions(repo, backend="replay:x", max_steps=0), "at least 1"),
        (SessionOptions(repo, backend="replay:x", allow=["colour=red"]), "colour"),
    ]
    for bad, message in cases:
        driver = SessionDriver(bad)
        with pytest.raises(SessionSetupError, match=message):
            driver.prepare()
        driver.close()
    missing = SessionDriver(SessionOptions(repo, resume="missing"))
    assert missing.set_effort("high") == "high"  # a setting waits; what runs reports it
    with pytest.raises(SessionSetupError, match="no session"):
        asyncio.run(missing.send("go on"))
    missing.close()
    driver = SessionDriver(options(repo, ["Hi."]))
    with pytest.raises(SessionSetupError, match="give a task"):
        asyncio.run(driver.send())
    with pytest.raises(SessionSetupError, match="unknown backend"):
        driver.switch_backend("carrier-pigeon:x")
    asyncio.run(driver.start("hi"))
    with pytest.raises(SessionSetupError, match="already open"):
        asyncio.run(driver.start("again"))
    driver.close()


def test_a_shared_store_stays_open_after_the_driver_closes(repo: Path) -> None:
    store = SessionStore()
    driver = SessionDriver(options(repo, ["Hi."]), store=store)
    asyncio.run(driver.start("hi"))
    driver.close()
    assert [s.status for s in store.list()] == ["done"]
    store.close()


@pytest.fixture
def small_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """An OpenAI-compatible server that lists its model with a 256-token context, as vLLM
    serving the tiny checkpoint does."""
    monkeypatch.setenv("TESSERA_OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer() as fake:
        fake.max_model_len = 256
        fake.replies = [Reply([chunk(content="Done.", finish="stop")])]
        yield fake


def test_a_system_prompt_that_cannot_fit_is_refused_before_anything_is_sent(
        repo: Path, small_server: FakeOpenAIServer) -> None:
    driver = SessionDriver(SessionOptions(repo, backend=f"openai:{small_server.base_url}",
                                          repo_map_tokens=512))
    with pytest.raises(SessionSetupError) as refused:
        asyncio.run(driver.start("fix the bug"))
    message = str(refused.value)
    assert "the model's context is 256 tokens: nothing was sent" in message
    for advice in ("--max-model-len", "fewer tools"):
        assert advice in message
    assert "a smaller repository map (`--repo-map-tokens N`, now 512" in message
    assert small_server.chat_requests() == []
    assert driver.context_window == 256 and driver.session_id is None
    assert driver.store.list() == []  # no session was stored either
    driver.close()


def test_a_known_window_is_compactions_limit_and_an_unknown_one_the_default(
        repo: Path, small_server: FakeOpenAIServer) -> None:
    small_server.max_model_len = 60_000
    driver = SessionDriver(SessionOptions(repo, backend=f"openai:{small_server.base_url}",
                                          repo_map_tokens=0))
    assert asyncio.run(driver.start("fix the bug")).status == "done"
    assert driver.context_window == 60_000
    assert driver.loop is not None and driver.loop.settings.compaction is not None
    assert driver.loop.settings.compaction.context_limit == 60_000
    replay = write_replay(repo.parent / "after-switch.jsonl", ["Hi."])
    driver.switch_backend(f"replay:{replay}")
    assert asyncio.run(driver.send("and now?")).status == "done"
    assert driver.context_window is None  # a replay states none
    assert driver.loop.settings.compaction.context_limit == UNKNOWN_WINDOW_LIMIT
    driver.close()


def test_a_large_window_is_used_whole_and_a_configured_limit_wins(
        repo: Path, small_server: FakeOpenAIServer) -> None:
    small_server.max_model_len = 262_144
    for configured, expected in ((None, 262_144), (50_000, 50_000), (400_000, 262_144)):
        driver = SessionDriver(SessionOptions(repo, backend=f"openai:{small_server.base_url}",
                                              repo_map_tokens=0, context_limit=configured))
        assert asyncio.run(driver.start("fix the bug")).status == "done"
        assert driver.loop is not None and driver.loop.settings.compaction is not None
        assert driver.loop.settings.compaction.context_limit == expected
        driver.close()


def test_a_server_that_does_not_say_gets_the_default_and_one_warning(
        repo: Path, small_server: FakeOpenAIServer) -> None:
    small_server.max_model_len = None
    driver = SessionDriver(SessionOptions(repo, backend=f"openai:{small_server.base_url}",
                                          repo_map_tokens=0))
    events: list[ev.Event] = []
    driver.subscribe(events.append)
    assert asyncio.run(driver.start("fix the bug")).status == "done"
    assert asyncio.run(driver.send("and now?")).status == "done"
    assert driver.loop is not None and driver.loop.settings.compaction is not None
    assert driver.loop.settings.compaction.context_limit == UNKNOWN_WINDOW_LIMIT
    warnings = [e for e in events if isinstance(e, ev.Error)]
    assert len(warnings) == 1 and not warnings[0].fatal
    assert "does not state its model's context window" in warnings[0].message
    assert "--context-limit" in warnings[0].message
    assert isinstance(events[0], ev.SessionStart)  # the warning follows the start
