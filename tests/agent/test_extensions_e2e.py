"""One replayed session through `tessera run --json` that uses a custom command, a skill,
a real MCP server (PyPI mcp-server-time, in its own venv) and a hook on the MCP tool:
the recorded turns are tests/agent/trajectories/release_notes.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import events as ev
from agent.cli import main
from tests.agent.conftest import of_type
from tests.tools.mcp.servers import pypi_servers_bin

TRAJECTORY = Path(__file__).with_name("trajectories") / "release_notes.jsonl"
SKILL = """---
name: release-notes
description: Write release notes for a version. Use when asked for release notes.
---
1. Take today's date from the clock in the user's time zone (the time server), never
   from memory.
2. List what changed since the last tag, grouped under Added / Fixed.
"""
COMMAND = """---
description: Release notes for a version
effort: high
---
Write RELEASE_NOTES.md for version $1, dated in the $2 time zone.
"""


def set_up(repo: Path, home: Path, servers: Path, log: Path) -> None:
    skill = repo / ".agents" / "skills" / "release-notes"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(SKILL)
    (repo / ".tessera" / "commands").mkdir(parents=True)
    (repo / ".tessera" / "commands" / "release.md").write_text(COMMAND)
    config = home / "config" / "tessera" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[mcp_servers.time]\n"
        f'command = "{servers / "mcp-server-time"}"\n'
        'args = ["--local-timezone", "UTC"]\n\n'
        "[[hooks.PreToolUse]]\n"
        'matcher = "mcp__time__.*"\n'
        f'command = "cat >> {log}"\n'
    )


def test_a_custom_command_a_skill_and_an_mcp_tool_in_one_run(
    repo: Path, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "mcp-calls.json"
    set_up(repo, isolated_home, pypi_servers_bin(), log)
    monkeypatch.chdir(repo)
    status = main(["run", "/release 1.2 Europe/Paris", "--json", "--approval", "auto-edit",
                   "--repo-map-tokens", "0", "--backend", f"replay:{TRAJECTORY}"])
    out = capsys.readouterr().out
    assert status == 0, out
    events = [ev.from_json(line) for line in out.splitlines()]

    start = of_type(events, ev.SessionStart)[0]  # the command, expanded
    assert start.task == "Write RELEASE_NOTES.md for version 1.2, dated in the Europe/Paris " \
                         "time zone.\n"
    assert start.effort == "high"
    assert "- release-notes: Write release notes for a version." in start.system_prompt
    assert "never\n   from memory" not in start.system_prompt  # the body waits for the skill

    skill, clock, write = of_type(events, ev.ToolResult)
    assert skill.name == "skill" and skill.ok and "time server" in skill.output
    assert clock.name == "mcp__time__get_current_time" and clock.ok
    assert json.loads(clock.output)["timezone"] == "Europe/Paris"
    assert clock.data["mcp_server"] == "time"
    assert write.ok and (repo / "RELEASE_NOTES.md").read_text().startswith("# 1.2")

    (hook,) = of_type(events, ev.Hook)  # the hook saw the MCP call by its mcp__ name
    assert (hook.tool, hook.decision) == ("mcp__time__get_current_time", "continue")
    assert json.loads(log.read_text())["tool_input"] == {"timezone": "Europe/Paris"}
    finish = events[-1]
    assert isinstance(finish, ev.Finish) and finish.status == "done"
