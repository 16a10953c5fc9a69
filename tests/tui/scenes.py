"""The main screens in fixed, reproducible states: used by the SVG snapshot tests and to
write the screenshots under docs/screenshots (`python -m tests.tui.scenes DIR`).

Everything shown is deterministic: a stored session with fixed events is resumed (so its
token counts are the stored ones), the replay backend plays the new turn, the stream
clock is frozen (no tokens/s figure) and the sandbox answer is fixed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent import events as ev
from agent.sessions import SessionStore
from tui.app import TesseraApp
from tui.screens.review import ReviewScreen
from tui.session import ChatOptions
from tui.widgets.status import Stats

SIZE = (110, 40)
CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
FIXED = CALC.replace("a - b", "a + b")
EDIT_DIFF = (
    "--- a/calc.py\n+++ b/calc.py\n"
    "@@ -1,5 +1,5 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n \n \n"
    " def mul(a, b):\n"
)
EDIT_OUTPUT = "Edited calc.py: replaced 1 occurrence at line 2.\n" + EDIT_DIFF
EDIT_DATA = {
    "path": "calc.py", "created": False, "changed": True, "diff": EDIT_DIFF,
    "replacements": 1, "at_lines": [2],
}
ANSWER = (
    "Fixed `add`: it subtracted instead of adding.\n\n"
    "```python\ndef add(a, b):\n    return a + b\n```\n\nThe check passes now."
)


def stored_session(repo: Path) -> list[ev.Event]:
    edit = {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"}
    return [
        ev.SessionStart(
            "20260101-120000-abcdef",
            "fix add in calc.py",
            str(repo),
            "replay:turns.jsonl",
            "auto",
            "ask",
            "You are Tessera.",
        ),
        ev.Effort(1, "high", "first step of the task: plan before acting"),
        ev.Thinking(1, "The task names calc.py. Read it before changing anything."),
        ev.ToolCall(1, "call_1_0", "read_file", {"path": "calc.py"}),
        ev.Usage(1, 1800, 0, 40, "tool_calls"),
        ev.ToolResult(1, "call_1_0", "read_file", True, CALC),
        ev.Effort(
            2,
            "none",
            "routine step after a successful result; stays none",
            switched=True,
            reread_tokens=1900,
        ),
        ev.ToolCall(2, "call_2_0", "edit_file", edit),
        ev.Usage(2, 1950, 0, 30, "tool_calls"),
        ev.Approval("call_2_0", "edit_file", "granted", "approved by the user"),
        ev.Checkpoint(2, "20260101-120005-1a2b3c4d", "before step 2"),
        ev.ToolResult(2, "call_2_0", "edit_file", True, EDIT_OUTPUT, data=EDIT_DATA),
        ev.Effort(3, "none", "routine step after a successful result; stays none"),
        ev.Text(3, ANSWER),
        ev.Usage(3, 2100, 1980, 60, "stop"),
        ev.Finish("done", "Fixed add.", 3),
    ]


def make_repo(root: Path) -> Path:
    repo = root / "project"
    repo.mkdir(parents=True)
    (repo / "calc.py").write_text(CALC)
    run = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*run, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*run, "add", "-A"], check=True)
    subprocess.run([*run, "commit", "-qm", "start"], check=True)
    (repo / "calc.py").write_text(FIXED)
    (repo / "check.py").write_text("from calc import add\nassert add(2, 3) == 5\n")
    return repo


def store_session(repo: Path) -> None:
    store = SessionStore()
    session = stored_session(repo)
    for event in session:
        store.append("20260101-120000-abcdef", event)
    store.close()


def app_for(
    repo: Path, turns: list[str], resume: bool = True, approval: str | None = None
) -> TesseraApp:
    replay = repo.parent / "turns.jsonl"
    replay.write_text("".join(json.dumps({"raw": raw}) + "\n" for raw in turns))
    options = ChatOptions(
        repo=repo,
        backend=f"replay:{replay}",
        resume="last" if resume else None,
        approval=approval,
    )
    return TesseraApp(
        options,
        sandbox_probe=lambda: (True, "sandbox: bubblewrap + seccomp"),
        stats=Stats(clock=lambda: 0.0),
    )


MUL_EDIT = (
    '[TOOL_CALLS]edit_file[ARGS]{"path": "calc.py", "old_string": "return a * b", '
    '"new_string": "return int(a) * int(b)"}'
)

Scene = tuple[Callable[[Path], TesseraApp], Callable[..., Awaitable[None]]]


async def _settle(pilot) -> None:
    await pilot.pause(0.3)


async def _ask_for_approval(pilot) -> None:
    app = pilot.app
    await pilot.pause(0.2)
    await pilot.press(*"also make mul convert its inputs", "enter")
    for _ in range(200):
        if app.chat is not None and app.chat._approval is not None:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


REVIEW_FINDINGS = {
    "findings": [
        {"file": "calc.py", "line": 2, "severity": "info",
         "message": "add now adds; the subtraction was the bug the task named",
         "suggestion": None},
        {"file": "check.py", "line": 2, "severity": "warning",
         "message": "a bare assert is skipped under `python -O`; make it a pytest test",
         "suggestion": "def test_add():\n    assert add(2, 3) == 5"},
    ]
}
REVIEW_ANSWER = (
    "The fix is right; the new check should be a real test.\n\n```json\n"
    + json.dumps(REVIEW_FINDINGS) + "\n```"
)


async def _review(pilot) -> None:
    """The review screen after the model's review (m) of the diff."""
    from tui.reviewing import ModelReviewer

    app = pilot.app
    await pilot.pause(0.2)
    screen = ReviewScreen(app.options.repo, reviewer=ModelReviewer(app.options.repo,
                                                                   app.options.backend))
    await app.push_screen(screen)
    await pilot.pause(0.3)
    await pilot.press("m")
    for _ in range(1200):
        if not screen.reviewing and screen.findings:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


async def _tasks(pilot) -> None:
    app = pilot.app
    await pilot.pause(0.2)
    await pilot.press(*"/run fix add in calc.py", "enter")
    await pilot.press(*"/run check that mul handles floats", "enter")
    for _ in range(200):
        if app.tasks is not None and not app.tasks.active:
            break
        await pilot.pause(0.05)
    app.action_show_tasks()
    await pilot.pause(0.5)


TODO_ITEMS = [
    {"content": "Fix add in calc.py", "status": "done"},
    {"content": "Make mul convert its inputs", "status": "in_progress"},
    {"content": "Add tests for add and mul", "status": "pending"},
]
TODO = "[TOOL_CALLS]todo_write[ARGS]" + json.dumps({"items": TODO_ITEMS})
PLAN = (
    "Make `mul` accept strings:\n\n1. Convert both inputs with `int()` in calc.py\n"
    "2. Add a check for `mul('2', 3)` to check.py\n3. Run check.py"
)
EXIT_PLAN = "[TOOL_CALLS]exit_plan[ARGS]" + json.dumps({"plan": PLAN})
ASK = "[TOOL_CALLS]ask_user[ARGS]" + json.dumps({
    "question": "Should mul also accept floats given as strings?",
    "options": ["yes, use float()", "no, integers only", "raise a clear error"],
})


async def _wait_for(pilot, ready: Callable[[], bool]) -> None:
    for _ in range(200):
        if ready():
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


async def _todo(pilot) -> None:
    """The live todo panel after the model set its list."""
    chat = pilot.app.chat
    await pilot.pause(0.2)
    await pilot.press(*"keep a todo list for the rest", "enter")
    await _wait_for(pilot, lambda: chat.todo_panel.display and not chat.session.running)


async def _plan(pilot) -> None:
    """Plan mode (shift+tab): the plan waits for approve, edit or reject."""
    await pilot.pause(0.2)
    await pilot.press("shift+tab", *"make mul accept strings", "enter")
    await _wait_for(pilot, lambda: pilot.app.chat._plan_panel is not None)


async def _question(pilot) -> None:
    """The model's question (ask_user) as a chooser."""
    await pilot.pause(0.2)
    await pilot.press(*"make mul accept strings", "enter")
    await _wait_for(pilot, lambda: pilot.app.chat._question is not None)


SCENES: dict[str, Scene] = {
    "chat": (lambda repo: app_for(repo, []), _settle),
    "review": (lambda repo: app_for(repo, [REVIEW_ANSWER], resume=False), _review),
    # Fresh sessions: a transcript too short to scroll, so nothing moves with timing (with
    # the resumed history the approval's scrollbar thumb moved by a row under load).
    "approval": (lambda repo: app_for(repo, [MUL_EDIT, "Done."], resume=False),
                 _ask_for_approval),
    "todo": (lambda repo: app_for(repo, [TODO, "Listed the remaining work."], resume=False),
             _todo),
    "plan": (lambda repo: app_for(repo, ['[TOOL_CALLS]read_file[ARGS]{"path": "calc.py"}',
                                         EXIT_PLAN], resume=False), _plan),
    "question": (lambda repo: app_for(repo, [ASK, "Done."], resume=False), _question),
}
# Screens whose figures move with the clock (elapsed time): screenshots, not snapshots.
DOC_SCENES: dict[str, Scene] = {
    **SCENES,
    "tasks": (
        lambda repo: app_for(repo, [MUL_EDIT, "Done."], resume=False, approval="auto-edit"),
        _tasks,
    ),
}


def prepare(root: Path, setenv: Callable[[str, str], None] = os.environ.__setitem__) -> Path:
    """A repository and a stored session under `root`, with the config and data dirs
    pointed there (tests pass monkeypatch.setenv)."""
    setenv("XDG_CONFIG_HOME", str(root / "config"))
    setenv("TESSERA_HOME", str(root / "data"))
    repo = make_repo(root)
    store_session(repo)
    return repo


async def _shoot(name: str, repo: Path, out: Path) -> Path:
    make, before = DOC_SCENES[name]
    app = make(repo)
    async with app.run_test(size=SIZE) as pilot:
        await before(pilot)
        return Path(app.save_screenshot(f"{name}.svg", path=str(out)))


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in DOC_SCENES:
        with tempfile.TemporaryDirectory() as tmp:
            repo = prepare(Path(tmp))
            print(asyncio.run(_shoot(name, repo, out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
