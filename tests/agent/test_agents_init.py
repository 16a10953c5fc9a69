"""`tessera init` and `/init`: read-only tools plus a write of AGENTS.md alone, always
asked about with its diff, whatever the user's approval policy."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from agent import events as ev
from agent.agents_init import INIT, INIT_TASK
from agent.cli import main
from agent.session_driver import SessionDriver, SessionOptions
from tests.agent.conftest import of_type
from tests.support import call, write_replay

AGENTS = "# AGENTS.md\n\n## Test\n\n`python check.py`\n"
TURNS = [
    call("read_file", path="check.py"),
    call("write_file", path="calc.py", content="x = 1\n"),  # not an init tool
    call("write_agents_md", content=AGENTS),
    "Wrote AGENTS.md: how to run the check.",
]


def test_tessera_init_shows_the_diff_and_writes_agents_md(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = write_replay(repo.parent / "init.jsonl", TURNS)
    monkeypatch.chdir(repo)
    status = main(["init", "--yes", "--json", "--backend", f"replay:{replay}"])
    out = capsys.readouterr().out
    assert status == 0, out
    events = [ev.from_json(line) for line in out.splitlines()]
    assert (repo / "AGENTS.md").read_text() == AGENTS
    assert of_type(events, ev.SessionStart)[0].task == INIT_TASK
    requested = [a for a in of_type(events, ev.Approval) if a.decision == "requested"]
    assert len(requested) == 1 and requested[0].name == "write_agents_md"
    assert "+## Test" in requested[0].preview["diff"]
    read, wrong_tool, write = of_type(events, ev.ToolResult)
    assert read.ok and write.ok
    assert not wrong_tool.ok and "unknown tool 'write_file'" in wrong_tool.output
    assert (repo / "calc.py").read_text().startswith("def add")


def test_a_denied_diff_writes_nothing_even_under_the_auto_policy(repo: Path) -> None:
    replay = write_replay(repo.parent / "init.jsonl", TURNS)
    asked: list[str] = []

    async def deny(facts, call_event) -> str:
        asked.append(call_event.name)
        return "deny"

    driver = SessionDriver(SessionOptions(repo, backend=f"replay:{replay}", approval="auto",
                                          repo_map_tokens=0), INIT, approver=deny)
    finish = asyncio.run(driver.start(INIT_TASK))
    assert finish.status == "done" and asked == ["write_agents_md"]
    assert not (repo / "AGENTS.md").exists()
    assert driver.loop is not None and driver.loop.settings.approval.mode == "ask"
    names = {tool.name for tool in driver.loop.settings.tools}
    assert "write_agents_md" in names and not names & {"write_file", "edit_file", "bash"}
    assert json.dumps(sorted(names))  # the tool set is plain names
    driver.close()


def test_tessera_init_without_a_terminal_or_yes_writes_nothing_and_says_so(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = write_replay(repo.parent / "init.jsonl", TURNS)
    monkeypatch.chdir(repo)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    assert main(["init", "--backend", f"replay:{replay}"]) == 1
    captured = capsys.readouterr()
    assert "+## Test" in captured.out  # the diff was shown with the request
    assert "no terminal to ask on" in captured.err and "was not written" in captured.err
    assert not (repo / "AGENTS.md").exists()
