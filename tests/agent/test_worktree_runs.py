"""Runs in their own git worktrees, on the replay backend: two at once edit the same file,
the user's tree is untouched until `apply`, the second apply conflicts and changes
nothing, the user's own edits made during a run survive, and undo after an apply brings
the tree back byte for byte. Then the commands: `tessera run --worktree`, `tasks`,
`apply [--hunks]`, `discard`."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from agent import events as ev
from agent.autonomous_runs import TaskManager
from agent.cli import main
from agent.session_driver import SessionDriver, SessionOptions
from agent.sessions import SessionStore
from agent.worktree_runs import apply_run, find_run, list_runs, worktrees_root
from tests.agent.conftest import CALC_BUGGY, run_session
from tests.support import call, git, write_replay
from tests.tools.git.helpers import index_state, tree_state
from tools.git.apply import ApplyConflict
from tools.git.checkpoints import restore_checkpoint
from tools.git.repo import open_repo


def fix(new: str) -> list[str]:
    return [call("edit_file", path="calc.py", old_string="a - b", new_string=new), "Fixed add."]


def options(repo: Path, turns: list[str], name: str) -> SessionOptions:
    replay = write_replay(repo.parent / f"{name}.jsonl", turns)
    return SessionOptions(repo, backend=f"replay:{replay}", approval="auto-edit",
                          repo_map_tokens=0, worktree=True)


def test_two_concurrent_runs_land_only_when_applied(repo: Path) -> None:
    user_edit = "\nprint('the user typed this during the run')\n"

    def user_types(event: ev.Event) -> None:  # the user keeps editing while a run works
        if isinstance(event, ev.ToolCall):
            with (repo / "check.py").open("a") as handle:
                handle.write(user_edit)
            (repo / "scratch.txt").write_text("the user's untracked notes\n")

    async def both() -> list[SessionDriver]:
        drivers = [SessionDriver(options(repo, fix("a + b"), "one")),
                   SessionDriver(options(repo, fix("b + a"), "two"))]
        drivers[0].subscribe(user_types)
        try:
            finishes = await asyncio.gather(*(d.start("fix add") for d in drivers))
        finally:
            for driver in drivers:
                driver.close()
        assert [f.status for f in finishes] == ["done", "done"]
        return drivers

    first, second = asyncio.run(both())
    assert (repo / "calc.py").read_text() == CALC_BUGGY  # untouched until apply
    assert first.worktree is not None and second.worktree is not None
    assert "a + b" in (Path(first.worktree.path) / "calc.py").read_text()
    assert "b + a" in (Path(second.worktree.path) / "calc.py").read_text()
    assert Path(first.worktree.path).parent == worktrees_root()
    assert git(repo, "rev-parse", f"tessera/{first.session_id}^{{tree}}") != git(
        repo, "rev-parse", f"{first.worktree.base}^{{tree}}")  # the branch holds the work

    before_apply = (tree_state(repo), index_state(repo))
    store = SessionStore()
    result = apply_run(store, first.session_id)
    assert result.written == ["calc.py"]
    assert "return a + b" in (repo / "calc.py").read_text()
    assert (repo / "check.py").read_text().endswith(user_edit)  # the user's edit survived
    assert (repo / "scratch.txt").read_text() == "the user's untracked notes\n"
    assert not Path(first.worktree.path).exists()  # cleaned up; the branch stays

    after_first = (tree_state(repo), index_state(repo))
    with pytest.raises(ApplyConflict) as conflict:
        apply_run(store, second.session_id)
    assert list(conflict.value.files) == ["calc.py"]
    assert (tree_state(repo), index_state(repo)) == after_first
    assert Path(second.worktree.path).exists()  # still there to look at or discard
    store.close()

    restore_checkpoint(open_repo(repo))  # `tessera undo`
    assert (tree_state(repo), index_state(repo)) == before_apply


def test_a_worktree_run_is_resumed_in_its_worktree(repo: Path) -> None:
    turns = [*fix("a + b"), call("edit_file", path="calc.py", old_string="a + b",
                                 new_string="(a + b)"), "Bracketed."]
    finish, events = run_session(repo, turns, worktree=True, approval="auto-edit")
    assert finish.status == "done"
    start = events[0]
    assert isinstance(start, ev.SessionStart) and start.worktree is not None
    assert start.repo == start.worktree["path"]
    finish, events = run_session(repo, turns, task="go on", resume=start.session_id,
                                 approval="auto-edit")
    assert finish.status == "done"
    assert (repo / "calc.py").read_text() == CALC_BUGGY
    assert "return (a + b)" in (Path(start.repo) / "calc.py").read_text()


def test_the_tasks_manager_runs_in_worktrees_and_applies(repo: Path) -> None:
    async def scenario() -> None:
        store = SessionStore()
        manager = TaskManager(options(repo, fix("a + b"), "m"), store, lambda run, e: None)
        run = manager.start("fix add")
        await run.handle
        assert run.status == "done" and run.worktree is not None
        assert (repo / "calc.py").read_text() == CALC_BUGGY
        await asyncio.to_thread(manager.apply, run)
        assert "a + b" in (repo / "calc.py").read_text()
        assert run.landed == "applied"
        store.close()

    asyncio.run(scenario())


def cli(*argv: str, stdin: str = "") -> tuple[int, str]:
    import contextlib
    import sys

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue() + err.getvalue()


def test_the_commands_list_apply_hunks_and_discard(repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    edits = [call("write_file", path="calc.py",
                  content="def add(a, b):\n    return a + b\n" + "\n" * 8 + "# end\n"),
             call("write_file", path="notes.txt", content="from the run\n"), "Done."]
    replay = write_replay(repo.parent / "cli.jsonl", edits)
    code, out = cli("run", "--worktree", "--json", "--approval", "auto-edit",
                    "--backend", f"replay:{replay}", "--repo-map-tokens", "0", "edit")
    assert code == 0
    session = json.loads(out.splitlines()[0])["session_id"]
    code, out = cli("tasks")
    assert code == 0
    assert session in out and f"tessera/{session}" in out and "2 file(s) +11 -1" in out
    assert str(worktrees_root() / session) in out

    code, out = cli("apply", session, "--hunks", stdin="n\ny\n")
    assert code == 0, out
    assert "Apply this?" in out and "changed 1 file(s): notes.txt" in out
    assert (repo / "calc.py").read_text() == CALC_BUGGY
    assert (repo / "notes.txt").read_text() == "from the run\n"
    code, out = cli("tasks")
    assert "(removed after apply" in out

    code, out = cli("undo")
    assert code == 0 and not (repo / "notes.txt").exists()
    code, out = cli("discard", session)
    assert code == 0 and f"tessera/{session}" in out
    assert git(repo, "branch", "--list", "tessera/*") == ""
    code, out = cli("tasks")
    assert "No worktree runs" in out
    code, out = cli("apply", session)
    assert code == 1 and "discarded" in out


def test_a_session_in_the_users_tree_is_not_applied(repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    _finish, events = run_session(repo, ["Nothing to do."])
    code, out = cli("apply", events[0].session_id)
    assert code == 1 and "did not run in a worktree" in out
    store = SessionStore()
    assert list_runs(store, repo) == []
    with pytest.raises(Exception, match="did not run in a worktree"):
        find_run(store, events[0].session_id)
    store.close()


def test_old_ended_runs_are_listed_by_doctor_then_cleaned_up(repo: Path, monkeypatch) -> None:
    from agent.doctor import check_worktrees

    monkeypatch.chdir(repo)
    _finish, events = run_session(repo, ["Nothing to change."], worktree=True)
    session = events[0].session_id
    (worktrees_root() / "20200101-000000-abcdef").mkdir()  # a folder no session knows
    fresh = {c.name: c for c in check_worktrees(repo)}
    assert fresh["worktree runs"].detail.startswith("1 kept, 1 ended and waiting")
    assert session not in fresh and not fresh["20200101-000000-abcdef"].ok

    store = SessionStore()
    store.db.execute("UPDATE sessions SET updated = updated - 30 * 86400 WHERE id = ?",
                     (session,))
    store.close()
    stale = {c.name: c for c in check_worktrees(repo)}[session]
    assert not stale.ok and "untouched for over 14 days" in stale.detail
    assert f"tessera discard {session}" in stale.fix
    code, out = cli("tasks")
    assert code == 0 and f"removed run {session}" in out and "No worktree runs" in out
    assert not (worktrees_root() / session).exists()
    assert git(repo, "branch", "--list", "tessera/*") == ""


@pytest.mark.require_program("bwrap")
def test_commands_checkpoints_and_undo_work_in_the_worktree(repo: Path) -> None:
    command = "sed -i 's/a - b/a + b/' calc.py && python3 check.py && git status --porcelain"
    _finish, events = run_session(repo, [call("bash", command=command), "Fixed."],
                                  worktree=True, approval="auto")
    result = next(e for e in events if isinstance(e, ev.ToolResult))
    assert result.ok and result.data["sandboxed"], result.output
    assert "all checks passed" in result.output and " M calc.py" in result.output
    checkpoint = next(e for e in events if isinstance(e, ev.Checkpoint))
    linked = Path(events[0].repo)
    driver = SessionDriver(SessionOptions(repo, resume=events[0].session_id))
    driver.open()
    assert driver.checkpoints()[0].id == checkpoint.ref  # the worktree's own checkpoints
    driver.undo()
    driver.close()
    assert (linked / "calc.py").read_text() == CALC_BUGGY
    assert git(repo, "status", "--porcelain") == ""  # the user's tree never changed


def test_tasks_in_a_folder_without_git_work_there_and_say_why(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "calc.py").write_text(CALC_BUGGY)

    async def scenario() -> None:
        store = SessionStore()
        settings = replace(options(folder, fix("a + b"), "plain"), worktree=False)
        manager = TaskManager(settings, store, lambda run, e: None)
        run = manager.start("fix add")
        await run.handle
        store.close()
        assert run.status == "done" and run.worktree is None
        assert "not a git repository" in run.note
        assert "a + b" in (folder / "calc.py").read_text()

    asyncio.run(scenario())


def test_a_repository_may_turn_worktrees_on_and_keep_runs_longer_never_less(repo: Path) -> None:
    from agent.config import load_config

    (repo / ".tessera").mkdir()
    (repo / ".tessera" / "config.toml").write_text("[worktree]\ntasks = false\nmax_age_days = 1\n")
    config = load_config(repo)
    assert config.worktree_tasks is True and config.worktree_max_age_days == 14
    assert sum("would loosen" in w for w in config.warnings) == 2
    (repo / ".tessera" / "config.toml").write_text("[worktree]\nmax_age_days = 30\n")
    assert load_config(repo).worktree_max_age_days == 30
