"""Hooks through a headless run: Claude-Code-shaped stdin, exit 2 blocks, a failing guard
blocks too (unless on_error = "allow"), a rewrite is judged by the rules, and a
repository's hooks run only when the user trusts it."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from agent import events as ev
from agent.config import set_trusted
from agent.hooks import HookConfigError, HookSpec, parse_hooks
from agent.session_driver import SessionDriver, SessionOptions, SessionSetupError
from agent.sessions import SessionStore
from tests.agent.conftest import of_type, run_session
from tests.support import call, write_replay

WRITE_NOTES = call("write_file", path="notes.txt", content="hello\n")


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def user_hooks(home: Path, toml: str) -> None:
    config = home / "config" / "tessera" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(toml)


def pre_tool(command: Path | str, **extra: str) -> str:
    lines = ['[[hooks.PreToolUse]]', 'matcher = "write_file|edit_file"', f'command = "{command}"']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def write_run(repo: Path, **options: object) -> tuple[ev.Finish, list[ev.Event]]:
    return run_session(repo, [WRITE_NOTES, "Done."], task="write the notes",
                       approval="auto-edit", **options)


def only_result(events: list[ev.Event]) -> ev.ToolResult:
    (result,) = of_type(events, ev.ToolResult)
    return result


def test_a_hook_that_exits_0_lets_the_call_run_and_gets_claude_codes_stdin(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    seen = tmp_path / "stdin.json"
    guard = script(tmp_path, "guard.sh", f"cat > {seen}\n")
    user_hooks(isolated_home, pre_tool(guard))
    finish, events = write_run(repo)
    assert finish.status == "done"
    assert (repo / "notes.txt").read_text() == "hello\n"
    payload = json.loads(seen.read_text())
    start = of_type(events, ev.SessionStart)[0]
    assert payload == {
        "session_id": start.session_id, "cwd": str(repo.resolve()),
        "hook_event_name": "PreToolUse", "tool_name": "write_file",
        "tool_input": {"path": "notes.txt", "content": "hello\n"},
    }
    (hook,) = of_type(events, ev.Hook)
    assert (hook.event, hook.tool, hook.exit_code, hook.decision) == (
        "PreToolUse", "write_file", 0, "continue")
    assert hook.command == str(guard) and hook.duration_s >= 0


def test_exit_2_blocks_and_its_stderr_is_the_reason_the_model_reads(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    guard = script(tmp_path, "guard.sh", "echo 'notes are frozen' >&2\nexit 2\n")
    user_hooks(isolated_home, pre_tool(guard))
    _, events = write_run(repo)
    assert not (repo / "notes.txt").exists()
    result = only_result(events)
    assert not result.ok and "blocked by a PreToolUse hook: notes are frozen" in result.output
    (hook,) = of_type(events, ev.Hook)
    assert (hook.exit_code, hook.decision, hook.reason) == (2, "block", "notes are frozen")
    assert not of_type(events, ev.Approval)  # blocked before approval was asked


@pytest.mark.parametrize(
    ("body", "toml_extra", "exit_code", "why"),
    [
        ("echo 'jq: not found' >&2\nexit 1\n", {}, 1, "exit code 1: jq: not found"),
        (None, {}, 127, "exit code 127 (command not found?)"),
        ("sleep 5\n", {"timeout": "0.3"}, None, "timed out after 0.3 s"),
    ],
    ids=["exit-1", "missing-script", "timeout"],
)
def test_a_guard_that_fails_any_other_way_blocks(
    repo: Path, isolated_home: Path, tmp_path: Path, body: str | None,
    toml_extra: dict[str, str], exit_code: int | None, why: str,
) -> None:
    guard = tmp_path / "no-such-guard.sh" if body is None else script(tmp_path, "g.sh", body)
    user_hooks(isolated_home, pre_tool(guard, **toml_extra))
    _, events = write_run(repo)
    assert not (repo / "notes.txt").exists()
    (hook,) = of_type(events, ev.Hook)
    assert (hook.exit_code, hook.decision) == (exit_code, "fail-closed")
    assert hook.reason.startswith(why)
    result = only_result(events)
    assert not result.ok and "a guard that fails blocks" in result.output and why in result.output


def test_on_error_allow_lets_a_failing_guard_pass(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    guard = script(tmp_path, "guard.sh", "exit 1\n")
    user_hooks(isolated_home, pre_tool(guard, on_error='"allow"'))
    _, events = write_run(repo)
    assert (repo / "notes.txt").exists() and only_result(events).ok
    (hook,) = of_type(events, ev.Hook)
    assert (hook.exit_code, hook.decision) == (1, "failed")


def rewrite_to(path: str) -> str:
    answer = {"hookSpecificOutput": {"hookEventName": "PreToolUse",
                                     "updatedInput": {"path": path, "content": "x\n"}}}
    return f"cat > /dev/null\nprintf '%s\\n' '{json.dumps(answer)}'\n"


def test_a_rewritten_call_is_judged_by_the_deny_rules(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    guard = script(tmp_path, "guard.sh", rewrite_to("secrets/key.txt"))
    user_hooks(isolated_home, pre_tool(guard))
    _, events = write_run(repo, deny=["tool=write_file,path=secrets/**"])
    assert not (repo / "secrets").exists() and not (repo / "notes.txt").exists()
    (hook,) = of_type(events, ev.Hook)
    assert hook.decision == "rewrite"
    (approval,) = of_type(events, ev.Approval)
    assert approval.decision == "denied" and "path=secrets/**" in approval.reason
    assert not only_result(events).ok


def test_a_rewrite_runs_what_the_hook_said_and_the_model_is_told(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    guard = script(tmp_path, "guard.sh", rewrite_to("docs/notes.txt"))
    user_hooks(isolated_home, pre_tool(guard))
    _, events = write_run(repo)
    assert (repo / "docs" / "notes.txt").read_text() == "x\n"
    assert not (repo / "notes.txt").exists()
    result = only_result(events)
    assert result.ok and "a PreToolUse hook changed the arguments" in result.output


REPO_HOOK = (
    '[[hooks.PreToolUse]]\nmatcher = "write_file"\ncommand = "echo repo says no >&2; exit 2"\n'
)


def test_a_repositorys_hooks_run_only_when_it_is_trusted(
    repo: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".tessera").mkdir()
    (repo / ".tessera" / "config.toml").write_text(REPO_HOOK)
    _, events = write_run(repo)
    assert (repo / "notes.txt").exists() and not of_type(events, ev.Hook)
    assert "hooks ignored: the repository is not trusted" in capsys.readouterr().err

    (repo / "notes.txt").unlink()
    set_trusted(repo)
    _, events = write_run(repo)
    assert not (repo / "notes.txt").exists()
    (hook,) = of_type(events, ev.Hook)
    assert hook.decision == "block" and hook.reason == "repo says no"


def blocks_when(home: Path, folder: Path, event: str, stdin_has: str, reason: str) -> None:
    """A hook of `event` that exits 2 with `reason` when its stdin contains `stdin_has`."""
    guard = script(folder, f"{event}.sh", f"grep -qF '{stdin_has}' && "
                   f"{{ echo '{reason}' >&2; exit 2; }}\nexit 0\n")
    user_hooks(home, f'[[hooks.{event}]]\ncommand = "{guard}"\n')


def test_a_blocked_prompt_is_neither_sent_nor_stored(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    blocks_when(isolated_home, tmp_path, "UserPromptSubmit", "SECRET", "no secrets")
    finish, events = run_session(repo, ["Done."], task="deploy with SECRET=hunter2")
    assert finish.status == "error" and "no secrets" in finish.summary
    assert "hunter2" not in "".join(e.to_json() for e in events)
    assert not of_type(events, ev.Usage)  # the model was never asked
    finish, events = run_session(repo, ["Done."], task="say done")
    assert finish.status == "done"


def test_a_prompt_guard_that_fails_blocks_and_context_reaches_the_model(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    user_hooks(isolated_home, '[[hooks.UserPromptSubmit]]\ncommand = "exit 3"\n')
    finish, events = run_session(repo, ["Done."], task="say done")
    assert finish.status == "error" and of_type(events, ev.Hook)[0].decision == "fail-closed"

    user_hooks(isolated_home, '[[hooks.UserPromptSubmit]]\ncommand = "echo the branch is main"\n'
               '[[hooks.SessionStart]]\ncommand = "echo started"\n')
    finish, events = run_session(repo, ["Done."], task="say done")
    notes = [m.text for m in of_type(events, ev.UserMessage) if m.origin == "hook"]
    assert finish.status == "done" and notes == ["started", "the branch is main"]


def test_post_tool_use_adds_to_the_result_and_its_failure_blocks_nothing(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    context = {"hookSpecificOutput": {"additionalContext": "ran the formatter"}}
    formatter = script(tmp_path, "fmt.sh", f"printf '%s' '{json.dumps(context)}'\n")
    user_hooks(isolated_home, "[[hooks.PostToolUse]]\nmatcher = \"write_file\"\n"
               f"command = \"{formatter}\"\n"
               "[[hooks.PostToolUse]]\ncommand = \"exit 1\"\n")
    _, events = write_run(repo)
    result = only_result(events)
    assert result.ok and result.output.endswith("[hook: ran the formatter]")
    assert [h.decision for h in of_type(events, ev.Hook)] == ["context", "failed"]


def test_a_stop_hook_that_blocks_keeps_the_model_going_once(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    # Blocks while stop_hook_active is false: the model must take one more turn.
    blocks_when(isolated_home, tmp_path, "Stop", '"stop_hook_active": false',
                "run the tests first")
    finish, events = run_session(repo, ["Done.", "Tests pass; done."], task="finish")
    assert finish.status == "done" and finish.summary == "Tests pass; done."
    notes = [m.text for m in of_type(events, ev.UserMessage) if m.origin == "hook"]
    assert notes == ["A Stop hook asks you to go on: run the tests first"]
    assert [h.decision for h in of_type(events, ev.Hook)] == ["block", "continue"]


def test_matchers_are_whole_name_regexes_and_reach_mcp_tools() -> None:
    spec = HookSpec("PreToolUse", "x", matcher="mcp__git__.*")
    assert spec.matches("mcp__git__git_status") and not spec.matches("bash")
    assert HookSpec("PreToolUse", "x", matcher="bash").matches("bash")
    assert not HookSpec("PreToolUse", "x", matcher="bash").matches("bash2")
    assert HookSpec("PreToolUse", "x", matcher="*").matches("anything")
    # As in Claude Code: SessionStart matches its source, PreCompact its trigger.
    assert HookSpec("SessionStart", "x", matcher="resume").matches("resume")
    assert not HookSpec("SessionStart", "x", matcher="resume").matches("startup")
    assert not HookSpec("PreCompact", "x", matcher="auto").matches("manual")
    assert HookSpec("Stop", "x", matcher="anything").matches("")  # no field: ignored


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"PreToolUser": [{"command": "x"}]}, "unknown hook event 'PreToolUser'"),
        ({"Stop": [{"command": ""}]}, "`command` must be a non-empty string"),
        ({"PreToolUse": [{"command": "x", "matcher": "("}]}, "is not a regex"),
        ({"Stop": [{"command": "x", "on_error": "ignore"}]}, "`on_error` must be"),
        ({"Stop": [{"command": "x", "timeout": 0}]}, "`timeout` must be a positive"),
    ],
)
def test_a_bad_entry_is_refused_with_where_it_is(table: dict, problem: str) -> None:
    with pytest.raises(HookConfigError, match=problem) as caught:
        parse_hooks(table, "config.toml")
    assert str(caught.value).startswith("config.toml: ")


def test_a_bad_hook_config_stops_the_session_before_it_starts(
    repo: Path, isolated_home: Path
) -> None:
    user_hooks(isolated_home, '[[hooks.PreToolUser]]\ncommand = "x"\n')
    with pytest.raises(SessionSetupError, match="unknown hook event"):
        run_session(repo, ["Done."])


def recorder(folder: Path) -> tuple[Path, Path]:
    """A hook that appends its stdin, one JSON object a line, to a log."""
    log = folder / "hooks.log"
    return script(folder, "record.sh", f"cat >> {log}\necho >> {log}\n"), log


def test_notification_precompact_and_session_end_see_their_moments(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    record, log = recorder(tmp_path)
    user_hooks(isolated_home, "".join(f'[[hooks.{name}]]\ncommand = "{record}"\n'
                                      for name in ("Notification", "PreCompact", "SessionEnd"))
               + f'[[hooks.PreCompact]]\nmatcher = "auto"\ncommand = "{record}"\n')
    turns = [WRITE_NOTES, "Wrote them.", "Summary: notes written.", "Next."]
    replay = write_replay(repo.parent / "turns.jsonl", turns)
    answers: list[str] = []

    async def approve(facts, call_event) -> str:
        answers.append(call_event.name)
        return "once"

    driver = SessionDriver(SessionOptions(repo, backend=f"replay:{replay}", repo_map_tokens=0),
                           approver=approve)

    async def scenario() -> None:
        await driver.start("write the notes")
        await driver.send("and then?")
        await driver.compact()

    asyncio.run(scenario())
    driver.close()
    seen = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert [s["hook_event_name"] for s in seen] == ["Notification", "PreCompact", "SessionEnd"]
    assert seen[0]["message"] == "Tessera needs your permission to use write_file"
    assert seen[1]["trigger"] == "manual" and seen[2]["reason"] == "exit"
    assert answers == ["write_file"] and (repo / "notes.txt").exists()
    stored = SessionStore(driver.options.db_path)
    hooks = of_type(stored.events(driver.session_id or ""), ev.Hook)
    stored.close()
    assert [h.event for h in hooks] == ["Notification", "PreCompact", "SessionEnd"]


def test_doctor_counts_hooks_and_names_a_bad_entry(repo: Path, isolated_home: Path) -> None:
    from agent.doctor import check_hooks

    user_hooks(isolated_home, '[[hooks.Stop]]\ncommand = "true"\n[[hooks.PreToolUse]]\n'
               'command = "true"\n')
    (repo / ".tessera").mkdir()
    (repo / ".tessera" / "config.toml").write_text(REPO_HOOK)
    summary, ignored = check_hooks(repo)
    assert summary.ok and summary.detail == "2 configured (PreToolUse, Stop)"
    assert not ignored.ok and "not trusted" in ignored.detail and not ignored.required
    user_hooks(isolated_home, '[[hooks.Stop]]\ncommand = ""\n')
    (broken,) = check_hooks(repo)
    assert not broken.ok and broken.required and "`command` must be" in broken.detail


def test_a_resumed_session_runs_session_start_with_source_resume_once(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    record, log = recorder(tmp_path)
    user_hooks(isolated_home, f'[[hooks.SessionStart]]\ncommand = "{record}"\n')
    run_session(repo, ["First."], task="one")
    finish, _ = run_session(repo, ["First.", "Second."], task="two", resume="last")
    assert finish.status == "done" and finish.summary == "Second."
    seen = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert [s["source"] for s in seen] == ["startup", "resume"]


def test_a_guard_whose_output_is_not_utf8_or_not_json_still_decides(
    repo: Path, isolated_home: Path, tmp_path: Path
) -> None:
    guard = script(tmp_path, "guard.sh", "printf '\\377\\376 nope' >&2\nexit 2\n")
    user_hooks(isolated_home, pre_tool(guard))
    _, events = write_run(repo)
    (hook,) = of_type(events, ev.Hook)
    assert hook.decision == "block" and "nope" in hook.reason

    broken = script(tmp_path, "broken.sh", "echo '{\"decision\": '\n")
    user_hooks(isolated_home, pre_tool(broken))
    _, events = write_run(repo)
    (hook,) = of_type(events, ev.Hook)
    assert hook.decision == "fail-closed" and "looks like JSON but is not" in hook.reason
    assert not (repo / "notes.txt").exists()
