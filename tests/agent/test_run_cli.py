"""`tessera run` and `tessera sessions` as a user calls them: exit codes, the --json stream,
and resuming a stored session without repeating a completed tool call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import events as ev
from agent.cli import main
from agent.sessions import SessionStore, default_db_path
from tests.support import call, git, write_replay

TURNS = [
    call("read_file", path="calc.py"),
    call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"),
    call("bash", command="python3 check.py"),
    "Fixed add().",
]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    if "--repo-map-tokens" not in argv:
        argv = (*argv, "--repo-map-tokens", "0")  # only one test pays for the map
    code = main(["run", *argv])
    return code, capsys.readouterr().out


def test_json_stream_and_exit_zero(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay = write_replay(repo.parent / "t.jsonl", TURNS)
    code, out = run_cli(capsys, "fix add", "--repo", str(repo), "--backend", f"replay:{replay}",
                        "--approval", "auto", "--json", "--repo-map-tokens", "256")
    assert code == 0
    lines = out.splitlines()
    decoded = [ev.from_json(line) for line in lines]
    assert all(json.loads(line)["type"] == e.type for line, e in zip(lines, decoded, strict=True))
    assert decoded[0].type == "session_start" and decoded[-1].type == "finish"
    kinds = {e.type for e in decoded}
    assert {"effort", "tool_call", "tool_result", "checkpoint", "usage", "finish"} <= kinds
    assert "a + b" in (repo / "calc.py").read_text()
    system = decoded[0].system_prompt
    assert "# Repository map" in system and "def add" in system


def test_human_output_and_budget_exit_two(repo: Path, capsys) -> None:
    replay = write_replay(repo.parent / "t.jsonl", TURNS)
    code, out = run_cli(capsys, "fix add", "--repo", str(repo), "--backend", f"replay:{replay}",
                        "--max-steps", "1")
    assert code == 2
    assert "→ read_file" in out and "[budget after 1 step(s)]" in out


def test_errors_exit_one(repo: Path, capsys) -> None:
    code, out = run_cli(capsys, "x", "--repo", str(repo), "--backend", "carrier-pigeon")
    assert code == 1 and "unknown backend spec" in out
    code, out = run_cli(capsys, "x", "--repo", str(repo), "--backend", "replay:/nonexistent")
    assert code == 1 and "replay file" in out
    code, out = run_cli(capsys, "--repo", str(repo), "--backend", "replay:/x")
    assert code == 1 and "give a task" in out
    exhausted = write_replay(repo.parent / "short.jsonl", [call("read_file", path="calc.py")])
    code, out = run_cli(capsys, "x", "--repo", str(repo), "--backend", f"replay:{exhausted}")
    assert code == 1 and "no turn left" in out


def test_resume_continues_without_repeating_completed_calls(repo: Path, capsys) -> None:
    turns = [
        call("bash", command="echo step >> log.txt"),
        call("bash", command="echo step >> log.txt && cat log.txt"),
        "Logged twice.",
    ]
    replay = write_replay(repo.parent / "t.jsonl", turns)
    base = ["--repo", str(repo), "--backend", f"replay:{replay}", "--approval", "auto", "--json"]
    code, _ = run_cli(capsys, "log twice", *base, "--max-steps", "1")
    assert code == 2
    assert (repo / "log.txt").read_text() == "step\n"
    code, _out = run_cli(capsys, "--last", *base)
    assert code == 0
    assert (repo / "log.txt").read_text() == "step\nstep\n"
    store = SessionStore(default_db_path())
    [info] = store.list()
    events = store.events(info.id)
    assert [e.type for e in events].count("session_start") == 1
    assert [e.type for e in events].count("finish") == 2
    results = [e for e in events if isinstance(e, ev.ToolResult)]
    assert len(results) == len({r.call_id for r in results}) == 2
    assert info.status == "done"
    code = main(["sessions"])
    listing = capsys.readouterr().out
    assert code == 0 and info.id in listing and "log twice" in listing and "done" in listing


def test_resume_after_a_crash_mid_call_does_not_repeat_it(repo: Path, capsys) -> None:
    """A crash after a command started (call stored, result not): the model is told its
    effect is unknown; the command is not run again."""
    turns = [call("bash", command="echo once >> log.txt"), "Stopped."]
    replay = write_replay(repo.parent / "t.jsonl", turns)
    store = SessionStore(default_db_path())
    sid = "crashed-1"
    crashed = [
        ev.SessionStart(sid, "log", str(repo), f"replay:{replay}", "auto", "auto", "system"),
        ev.Effort(1, "high", "first step"),
        ev.ToolCall(1, "call_1_0", "bash", {"command": "echo once >> log.txt"}),
        ev.RawOutput(1, turns[0]),
        ev.Usage(1, 10, 0, 5, "tool_calls"),
        ev.Approval("call_1_0", "bash", "granted", "auto"),
    ]
    for event in crashed:
        store.append(sid, event)
    assert store.call_statuses(sid) == {"call_1_0": "pending"}
    (repo / "log.txt").write_text("once\n")  # it had run before the crash
    code, _out = run_cli(capsys, "--resume", "crash", "--repo", str(repo), "--json")
    assert code == 0
    assert (repo / "log.txt").read_text() == "once\n"
    events = store.events(sid)
    [result] = [e for e in events if isinstance(e, ev.ToolResult)]
    assert result.call_id == "call_1_0" and result.output.startswith("interrupted")
    assert store.call_statuses(sid) == {"call_1_0": "done"}
    assert isinstance(events[-1], ev.Finish) and events[-1].summary == "Stopped."


def test_resuming_a_finished_session_needs_a_follow_up(repo: Path, capsys) -> None:
    replay = write_replay(repo.parent / "t.jsonl", ["All good.", "Still good."])
    base = ["--repo", str(repo), "--backend", f"replay:{replay}"]
    assert run_cli(capsys, "check", *base)[0] == 0
    code, out = run_cli(capsys, "--last", *base)
    assert code == 1 and "already finished" in out
    code, out = run_cli(capsys, "and again", "--last", *base, "--json")
    assert code == 0 and '"text":"and again"' in out


def test_replay_reruns_a_stored_session_in_a_fresh_checkout(
    repo: Path, tmp_path: Path, capsys
) -> None:
    replay = write_replay(repo.parent / "t.jsonl", TURNS)
    code, first = run_cli(capsys, "fix add", "--repo", str(repo), "--backend", f"replay:{replay}",
                          "--approval", "auto", "--json")
    assert code == 0
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(repo), str(fresh))
    assert main(["replay", "--repo", str(fresh), "last", "--json"]) == 0
    again = capsys.readouterr().out

    def calls(out: str) -> list[tuple]:
        decoded = [ev.from_json(line) for line in out.splitlines()]
        return [(e.name, e.arguments) for e in decoded if isinstance(e, ev.ToolCall)] + [
            (e.name, e.ok) for e in decoded if isinstance(e, ev.ToolResult)
        ] + [e.summary for e in decoded if isinstance(e, ev.Finish)]

    assert calls(again) == calls(first)
    assert (fresh / "calc.py").read_text() == (repo / "calc.py").read_text()
    exported = tmp_path / "export.jsonl"
    [listed] = [i.id for i in SessionStore(default_db_path()).list() if i.repo == str(repo)]
    assert main(["replay", listed, "--export", str(exported)]) == 0
    assert [json.loads(line)["raw"] for line in exported.read_text().splitlines()] == TURNS
    assert main(["replay", listed]) == 1 and "--repo" in capsys.readouterr().out


def test_resume_runs_on_the_backend_and_effort_the_session_switched_to(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from agent.session_driver import SessionDriver, SessionOptions

    first = write_replay(repo.parent / "first.jsonl", ["First.", "Never used."])
    second = write_replay(repo.parent / "second.jsonl", ["Second."])
    driver = SessionDriver(SessionOptions(repo, backend=f"replay:{first}", repo_map_tokens=0))
    asyncio.run(driver.start("hello"))
    driver.switch_backend(f"replay:{second}")
    driver.set_effort("none")
    driver.close()
    code, out = run_cli(capsys, "go on", "--repo", str(repo), "--last", "--json")
    assert code == 0
    printed = [ev.from_json(line) for line in out.splitlines()]
    assert printed[-1] == ev.Finish("done", "Second.", 2)
    assert [e.value for e in printed if isinstance(e, ev.Effort)] == ["none"]
