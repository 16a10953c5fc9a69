"""The verify loop in replayed sessions: real checks run in the sandbox after a change."""

from __future__ import annotations

from pathlib import Path

from agent import events as ev
from agent.verify import changed_paths, suggested_commands, worktree_state
from tests.agent.conftest import CALC_BUGGY, of_type, run_session
from tests.support import call, init_repo

CHECKS = '[verify]\ncommands = ["python3 -m py_compile {files}", "python3 check.py"]\n'
WRONG_THEN_RIGHT = [
    call("edit_file", path="calc.py", old_string="a - b", new_string="a * b"),
    call("edit_file", path="calc.py", old_string="a * b", new_string="a + b"),
    "Fixed add(); the checks pass.",
]


def configure(repo: Path, text: str = CHECKS) -> None:
    (repo / ".tessera").mkdir(exist_ok=True)
    (repo / ".tessera" / "config.toml").write_text(text)  # the repository's own, untrusted


def test_a_failed_check_is_fed_back_and_fixed_on_the_next_step(repo: Path) -> None:
    configure(repo)
    finish, events = run_session(repo, WRONG_THEN_RIGHT, approval="auto-edit")
    assert finish.status == "done"
    checks = of_type(events, ev.Verify)
    assert [(v.step, v.command, v.ok) for v in checks] == [
        (1, "python3 -m py_compile calc.py", True),
        (1, "python3 check.py", False),
        (2, "python3 -m py_compile calc.py", True),
        (2, "python3 check.py", True),
    ]
    assert checks[1].exit_code == 1 and "add(2, 3) returned 6" in checks[1].output_tail
    assert checks[1].files == ["calc.py"] and checks[1].duration_s > 0
    # The failure is the model's next message, and step 2 plans with high effort for it.
    notes = [m for m in of_type(events, ev.UserMessage) if m.origin == "agent"]
    assert len(notes) == 1 and "`python3 check.py` failed" in notes[0].text
    assert "add(2, 3) returned 6" in notes[0].text
    note_at = events.index(notes[0])
    assert events.index(checks[1]) < note_at < events.index(of_type(events, ev.Effort)[1])
    step2 = of_type(events, ev.Effort)[1]
    assert step2.value == "high" and "a check failed after the last change" in step2.reason
    assert (repo / "calc.py").read_text() == CALC_BUGGY.replace("a - b", "a + b")


def test_no_verify_runs_no_checks(repo: Path) -> None:
    configure(repo)
    finish, events = run_session(repo, WRONG_THEN_RIGHT, approval="auto-edit", verify=False)
    assert finish.status == "done"
    assert not of_type(events, ev.Verify)


def test_steps_that_change_nothing_run_no_checks(repo: Path) -> None:
    configure(repo)
    _finish, events = run_session(repo, [call("read_file", path="calc.py"), "Read it."])
    assert not of_type(events, ev.Verify)


def test_without_config_the_repositorys_checks_are_suggested_once(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "py", {
        "calc.py": CALC_BUGGY,
        "pyproject.toml": '[project]\nname = "c"\n\n[tool.ruff]\nline-length = 99\n',
        "Makefile": "test:\n\tpython3 -m pytest\n",
    })
    turns = [call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"), "ok"]
    _finish, events = run_session(repo, turns, approval="auto-edit")
    [suggestion] = of_type(events, ev.VerifySuggestion)
    assert suggestion.commands == ["ruff check {files}", "make test"]
    assert suggestion.sources == ["Makefile", "pyproject.toml"]
    assert not of_type(events, ev.Verify)  # never run unasked
    (repo / "calc.py").write_text(CALC_BUGGY)
    _finish, again = run_session(repo, turns, approval="auto-edit")
    assert not of_type(again, ev.VerifySuggestion)


def test_suggestions_come_from_package_json_too(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"scripts": {"test": "jest", "lint": "eslint ."}}')
    assert suggested_commands(tmp_path) == [("npm run lint", "package.json"),
                                            ("npm test", "package.json")]


def test_changed_paths_see_edits_creations_deletions_and_reverts(repo: Path) -> None:
    before = worktree_state(repo)
    (repo / "calc.py").write_text("x = 1\n")
    (repo / "new.py").write_text("y = 2\n")
    (repo / "check.py").unlink()
    middle = worktree_state(repo)
    assert changed_paths(before, middle) == {"calc.py", "new.py", "check.py"}
    (repo / "calc.py").write_text(CALC_BUGGY)  # back to the committed content
    assert changed_paths(middle, worktree_state(repo)) == {"calc.py"}


def run_cli(capsys, repo: Path, *flags: str) -> tuple[int, str]:
    from agent.cli import main
    from tests.support import write_replay

    replay = write_replay(repo.parent / "cli.jsonl", WRONG_THEN_RIGHT)
    code = main(["run", "fix add", "--repo", str(repo), "--backend", f"replay:{replay}",
                 "--approval", "auto-edit", "--repo-map-tokens", "0", *flags])
    return code, capsys.readouterr().out


def test_the_cli_shows_checks_and_no_verify_turns_them_off(repo: Path, capsys) -> None:
    configure(repo)
    code, out = run_cli(capsys, repo)
    assert code == 0
    assert "verify python3 check.py: FAILED (1)" in out and "add(2, 3) returned 6" in out
    assert "verify python3 check.py: ok" in out
    (repo / "calc.py").write_text(CALC_BUGGY)
    code, out = run_cli(capsys, repo, "--no-verify")
    assert code == 0 and "verify" not in out
