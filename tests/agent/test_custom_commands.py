"""Custom commands: prompt files become `/NAME args`, with $ARGUMENTS and $1… in place,
in `tessera run` as in the TUI (tests/tui/test_custom_commands.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import events as ev
from agent.custom_commands import CommandError, discover_commands, expand, expand_invocation
from agent.session_driver import SessionSetupError
from tests.agent.conftest import of_type, run_session


def command_file(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text)
    return path


def repo_commands(repo: Path) -> Path:
    return repo / ".tessera" / "commands"


def test_arguments_and_positions_are_substituted(repo: Path) -> None:
    command_file(repo_commands(repo), "fix", "---\ndescription: Fix a file\neffort: high\n---\n"
                 "Fix $1 so that `$2` passes. Everything said: $ARGUMENTS\n")
    commands, problems = discover_commands(repo)
    assert problems == [] and commands["fix"].description == "Fix a file"
    assert commands["fix"].effort == "high"
    expanded = expand_invocation(repo, '/fix calc.py "python check.py"')
    assert expanded is not None
    assert expanded.prompt == ('Fix calc.py so that `python check.py` passes. Everything said: '
                               'calc.py "python check.py"\n')


def test_a_body_without_placeholders_gets_the_arguments_appended(repo: Path) -> None:
    command_file(repo_commands(repo), "review", "Review the staged change.\n")
    command = discover_commands(repo)[0]["review"]
    assert expand(command, "") == "Review the staged change.\n"
    assert expand(command, "focus on errors") == "Review the staged change.\n\nfocus on errors\n"
    assert expand_invocation(repo, "not a command") is None


def test_the_users_command_wins_and_bad_files_are_reported(
    repo: Path, isolated_home: Path
) -> None:
    user = isolated_home / "config" / "tessera" / "commands"
    command_file(user, "ship", "Mine.\n")
    command_file(repo_commands(repo), "ship", "Theirs.\n")
    command_file(repo_commands(repo), "slow", "---\neffort: extreme\n---\nGo.\n")
    command_file(repo_commands(repo), "empty", "---\ndescription: nothing\n---\n")
    commands, problems = discover_commands(repo)
    assert commands["ship"].body == "Mine.\n" and set(commands) == {"ship"}
    assert any("already defined" in p for p in problems)
    assert any("effort must be one of" in p for p in problems)
    assert any("the prompt is empty" in p for p in problems)


def test_tessera_run_expands_a_command_and_takes_its_effort(repo: Path) -> None:
    command_file(repo_commands(repo), "explain", "---\neffort: none\n---\nExplain $1 briefly.\n")
    finish, events = run_session(repo, ["It adds."], task="/explain calc.py")
    start = of_type(events, ev.SessionStart)[0]
    assert finish.status == "done" and start.task == "Explain calc.py briefly.\n"
    assert start.effort == "none"


def test_an_unknown_command_is_refused_before_anything_runs(repo: Path) -> None:
    command_file(repo_commands(repo), "explain", "Explain.\n")
    with pytest.raises(SessionSetupError, match="unknown command /nope; the custom commands "
                       "are: /explain"):
        run_session(repo, ["x"], task="/nope now")
    with pytest.raises(CommandError):
        expand_invocation(repo, "/nope")


def test_paths_and_a_leading_space_are_not_commands(repo: Path) -> None:
    assert expand_invocation(repo, "/tmp/build.log shows the failure") is None
    assert expand_invocation(repo, " /usr is full") is None
