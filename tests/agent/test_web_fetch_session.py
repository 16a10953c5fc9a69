"""web_fetch in real sessions: the approval policy and the configured network policy decide,
and a denied fetch never reaches the server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import events as ev
from agent.approval import ApprovalPolicy, CallFacts
from agent.loop import AgentLoop, LoopSettings
from agent.replay import ReplayBackend, ReplayTurn
from tests.agent.conftest import of_type, run_session
from tests.support import call
from tests.tools.web_server import Site, serve
from tools.base import SideEffect, ToolContext
from tools.net_policy import NetworkPolicy
from tools.registry import default_tools


@pytest.fixture()
def site() -> Iterator[Site]:
    with serve() as running:
        yield running


def allow_site_in_user_config(home: Path, site: Site) -> None:
    user = home / "config" / "tessera" / "config.toml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(f'[sandbox]\nnetwork = "allow-list"\n'
                    f'allow_domains = ["127.0.0.1:{site.port}"]\n')  # fmt: skip


def test_ask_is_the_default_and_headless_denies_without_fetching(
    repo: Path, isolated_home: Path, site: Site
) -> None:
    allow_site_in_user_config(isolated_home, site)
    _, events = run_session(repo, [call("web_fetch", url=f"{site.base}/page"), "done"])
    result = of_type(events, ev.ToolResult)[0]
    assert not result.ok and "headless" in result.output
    assert "the ask policy asks before every network" in result.output
    assert site.requests == []


def test_auto_fetches_within_the_configured_list(
    repo: Path, isolated_home: Path, site: Site
) -> None:
    allow_site_in_user_config(isolated_home, site)
    turns = [call("web_fetch", url=f"{site.base}/page"),
             call("web_fetch", url="http://169.254.169.254/latest/meta-data/"), "done"]
    _, events = run_session(repo, turns, approval="auto")
    fetched, refused = of_type(events, ev.ToolResult)
    assert fetched.ok and "# Installing widgets" in fetched.output
    assert "untrusted-web-content" in fetched.output
    assert not refused.ok and "not in sandbox.allow_domains" in refused.output
    assert site.requests == ["/page"]
    assert of_type(events, ev.Checkpoint) == []  # a fetch changes no file


def test_a_user_who_denies_keeps_the_request_from_being_made(repo: Path, site: Site) -> None:
    asked: list[CallFacts] = []

    async def deny(facts: CallFacts, call_event: ev.ToolCall) -> str:
        asked.append(facts)
        return "deny"

    policy = NetworkPolicy.from_config("allow-list", [f"127.0.0.1:{site.port}"])
    emitted: list[ev.Event] = []
    loop = AgentLoop(
        ReplayBackend([ReplayTurn(call("web_fetch", url=f"{site.base}/page"), 1),
                       ReplayTurn("done", 2)]),
        LoopSettings(repo=repo, tools=default_tools(),
                     tool_context=ToolContext(repo, network=policy),
                     approval=ApprovalPolicy("ask"), approver=deny),
        emitted.append,
    )  # fmt: skip
    start = ev.SessionStart("t", "task", str(repo), "replay", "auto", "ask", "system")
    asyncio.run(loop.run(start))
    assert [(f.tool, f.side_effect) for f in asked] == [("web_fetch", SideEffect.NETWORK)]
    approvals = of_type(emitted, ev.Approval)
    assert [a.decision for a in approvals] == ["requested", "denied"]
    assert approvals[0].preview == {"url": f"{site.base}/page", "network": "allow-list"}
    result = of_type(emitted, ev.ToolResult)[0]
    assert not result.ok and "denied by the user" in result.output
    assert site.requests == []
