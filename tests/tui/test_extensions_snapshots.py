"""SVG snapshots of what hooks and skills look like in the chat: a resumed session where
the model used a skill, a hook blocked a push (exit 2) and a guard that timed out blocked
a write (fail closed); then `/skills`. Refresh after an intended change of the look with
`pytest tests/tui/test_extensions_snapshots.py --snapshot-update`."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import events as ev
from agent.sessions import SessionStore
from tests.tui.scenes import SIZE, app_for, prepare

pytestmark = pytest.mark.require_module("pytest_textual_snapshot")  # the dev extra

SESSION = "20260101-130000-fedcba"
SKILL_BODY = (
    "Skill release-notes (repository skill)\n\n"
    "1. List the commits since the last tag.\n2. Group them by area.\n"
)
PUSH_BLOCKED = (
    "blocked by a PreToolUse hook: pushing is for humans. Do not retry this call as it "
    "is; continue without it or finish."
)
WRITE_BLOCKED = (
    "blocked by a PreToolUse hook: the PreToolUse hook `./hooks/check-paths.sh` failed "
    "(timed out after 5 s); a guard that fails blocks. Do not retry this call as it is; "
    "continue without it or finish."
)


def hooked_session(repo: Path) -> list[ev.Event]:
    notes = {"path": "NOTES.md", "content": "- add() fixed\n"}
    return [
        ev.SessionStart(SESSION, "write the release notes and push them", str(repo),
                        "replay:turns.jsonl", "auto", "auto", "You are Tessera."),
        ev.Effort(1, "high", "first step of the task: plan before acting"),
        ev.ToolCall(1, "s00001c00", "skill", {"skill": "release-notes"}),
        ev.Usage(1, 1500, 0, 20, "tool_calls"),
        ev.ToolResult(1, "s00001c00", "skill", True, SKILL_BODY,
                      data={"skill": "release-notes", "scope": "repository",
                            "file": "SKILL.md"}),
        ev.Effort(2, "none", "routine step after a successful result; stays none"),
        ev.ToolCall(2, "s00002c00", "bash", {"command": "git push origin main"}),
        ev.Usage(2, 1600, 1500, 20, "tool_calls"),
        ev.Hook("PreToolUse", "~/.config/tessera/hooks/no-push.sh", 2, 0.04, "block",
                "pushing is for humans", tool="bash"),
        ev.ToolResult(2, "s00002c00", "bash", False, PUSH_BLOCKED),
        ev.Effort(3, "none", "routine step after a failed result; stays none"),
        ev.ToolCall(3, "s00003c00", "write_file", notes),
        ev.Usage(3, 1700, 1600, 30, "tool_calls"),
        ev.Hook("PreToolUse", "./hooks/check-paths.sh", None, 5.0, "fail-closed",
                "timed out after 5 s", tool="write_file"),
        ev.ToolResult(3, "s00003c00", "write_file", False, WRITE_BLOCKED),
        ev.Effort(4, "none", "routine step"),
        ev.Text(4, "The notes are drafted above; both the push and the write were blocked "
                   "by your hooks."),
        ev.Usage(4, 1800, 1700, 30, "stop"),
        ev.Finish("done", "blocked by hooks", 4),
    ]


def add_skills(repo: Path) -> None:
    for name, description in (("release-notes", "Write release notes from the git log."),
                              ("db-migrate", "Add a database migration.")):
        folder = repo / ".agents" / "skills" / name
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {description}\n---\n"
                                         "Steps.\n")


async def _show_skills(pilot) -> None:
    await pilot.pause(0.2)
    await pilot.press(*"/skills", "enter")
    await pilot.pause(0.4)


def test_hook_blocks_and_skills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                snap_compare) -> None:
    repo = prepare(tmp_path, monkeypatch.setenv)
    add_skills(repo)
    store = SessionStore()
    for event in hooked_session(repo):
        store.append(SESSION, event)
    store.close()
    assert snap_compare(app_for(repo, []), terminal_size=SIZE, run_before=_show_skills)
