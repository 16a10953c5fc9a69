"""The real executable sharing a real terminal (tmux): inline mode leaves the conversation
in the terminal's scrollback, a bracketed multi-line paste is one message, a waiting
approval notifies an unfocused terminal, and copying writes OSC 52. What the app writes
to the terminal is read from the pty itself (`pipe-pane -O`), before tmux interprets it."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.sessions import SessionStore
from tests.support import call, write_replay
from tests.tui.terminal import Terminal, start_tessera

pytestmark = pytest.mark.slow

FOCUS_OUT = "\x1b[O"  # what a terminal with focus reporting sends when it loses focus


@contextmanager
def chat_in_tmux(repo: Path, answers: list[str], *extra: str) -> Iterator[tuple[Terminal, Path]]:
    """`tessera chat` on a replay, with everything it writes copied to a file."""
    replay = write_replay(repo.parent / "turns.jsonl", answers)
    raw = repo.parent / "pty.out"
    arguments = ["chat", "--repo", str(repo), "--backend", f"replay:{replay}", *extra]
    with start_tessera(arguments) as term:
        term.tmux("set-option", "-w", "-t", "tessera", "remain-on-exit", "on")
        term.tmux("pipe-pane", "-O", "-t", "tessera", f"cat >> {raw}")
        yield term, raw


def written(raw: Path) -> str:
    return raw.read_bytes().decode("utf-8", "replace") if raw.exists() else ""


def wait_written(raw: Path, pattern: str, timeout: float = 20.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, written(raw), re.S)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never written; the pty had:\n{written(raw)[-2000:]!r}")


OSC52 = r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07"


def copied(raw: Path) -> list[str]:
    """What the app put on the clipboard, in order."""
    return [base64.b64decode(found).decode() for found in re.findall(OSC52, written(raw))]


def ask(term: Terminal, message: str, answer_shows: str) -> str:
    """Send `message`; the screen once the answer shows and the app is idle again."""
    term.type(message)
    term.key("Enter")
    term.wait_for(answer_shows, timeout=20)
    return term.wait_for("idle")


def scrollback(term: Terminal) -> str:
    return term.tmux("capture-pane", "-p", "-S", "-", "-t", "tessera")


def test_inline_mode_leaves_the_conversation_in_the_scrollback(
    repo: Path, isolated_home: Path
) -> None:
    answers = ["First answer, line one.\n\nAnd its second paragraph.", "Second answer."]
    with chat_in_tmux(repo, answers, "--inline") as (term, _):
        term.wait_until_ready()
        ask(term, "what is one", "And its second paragraph.")
        ask(term, "and two", "Second answer.")
        term.key("C-q")
        term.wait_for("Pane is dead", timeout=20)
        history = scrollback(term)
    # In order, once each, and the app itself (its message box and status line) gone.
    for text in ("› what is one", "First answer, line one.", "› and two", "Second answer."):
        assert history.count(text) == 1, history
    assert history.index("First answer") < history.index("› and two") < history.index("Second")
    assert "Message Tessera" not in history and "sandbox" not in history


def test_a_bracketed_multiline_paste_is_one_message(repo: Path, isolated_home: Path) -> None:
    pasted = "".join(f"line {n} of the log\n" for n in range(1, 13))
    with chat_in_tmux(repo, ["Read all twelve."]) as (term, _):
        term.wait_until_ready()
        term.paste(pasted)
        screen = term.wait_for("[pasted 12 lines]")
        assert "line 1 of the log" not in screen  # a chip, not a flood
        time.sleep(1.0)
        assert "Read all twelve." not in term.screen()  # bracketed: nothing sent yet
        term.key("Enter")
        term.wait_for("Read all twelve.", timeout=20)
    store = SessionStore()
    try:
        (info,) = store.list()
        events = store.events(info.id)
    finally:
        store.close()
    # The first message of a session is its task: one, whole, and nothing sent after it.
    assert info.task == pasted.rstrip("\n")
    assert [e.type for e in events].count("session_start") == 1
    assert not [e for e in events if e.type == "user_message"]


def test_a_waiting_approval_notifies_an_unfocused_terminal(
    repo: Path, isolated_home: Path
) -> None:
    edit = call("edit_file", path="calc.py", old_string="a - b", new_string="a + b")
    with chat_in_tmux(repo, [edit, "Fixed."]) as (term, raw):
        term.wait_until_ready()
        term.type("fix add")
        term.key("Enter")
        # The person switches to another window (a key pressed would count as back).
        term.type(FOCUS_OUT)
        term.wait_for("Yes", timeout=20)  # the approval panel is up
        found = wait_written(raw, r"\x1b\]9;([^\x07]*)\x07")
        assert "approval" in found.group(1)
        assert re.search(r"\x1b\]777;notify;Tessera;[^\x07]*approval[^\x07]*\x07", written(raw))
        assert "\x07" in written(raw)[found.end() :]  # the bell


def test_a_focused_terminal_is_not_notified(repo: Path, isolated_home: Path) -> None:
    edit = call("edit_file", path="calc.py", old_string="a - b", new_string="a + b")
    with chat_in_tmux(repo, [edit, "Fixed."]) as (term, raw):
        term.wait_until_ready()
        term.type("fix add")
        term.key("Enter")
        term.wait_for("Yes", timeout=20)
        time.sleep(1.0)
        assert "]9;" not in written(raw)


def test_copy_writes_osc52_with_the_text(repo: Path, isolated_home: Path) -> None:
    answer = "Use this:\n\n```python\nprint('copied')\n```"
    with chat_in_tmux(repo, [answer]) as (term, raw):
        term.wait_until_ready()
        ask(term, "show me", "print('copied')")
        term.key("C-g")  # the last code block
        wait_written(raw, OSC52)
        assert copied(raw) == ["print('copied')"]
        term.key("C-o")  # the whole answer
        term.wait_for("copied the last answer")
        assert copied(raw)[-1] == answer


def drag(term: Terminal, row: int, first: int, last: int) -> None:
    """A mouse drag over `row`'s columns first..last (0-based), as an xterm reports it
    (SGR mouse: press, motion with the button held, release)."""
    y = row + 1
    term.type(f"\x1b[<0;{first + 1};{y}M")
    time.sleep(0.1)
    term.type(f"\x1b[<32;{last + 1};{y}M")
    time.sleep(0.1)
    term.type(f"\x1b[<0;{last + 1};{y}m")
    time.sleep(0.3)


def test_a_mouse_selection_is_copied_with_osc52(repo: Path, isolated_home: Path) -> None:
    answer = "The **quick** brown fox jumps over the lazy dog."
    with chat_in_tmux(repo, [answer]) as (term, raw):
        term.wait_until_ready()
        lines = ask(term, "please select these words", "lazy dog").splitlines()
        row = next(i for i, line in enumerate(lines) if "select these" in line)
        start = lines[row].index("select these")
        drag(term, row, start, start + len("select these") - 1)
        term.key("C-c")
        wait_written(raw, OSC52)
        assert copied(raw) == ["select these"]
        # A Markdown answer is selected as whole entries (Textual places a selection inside
        # plain text only); the text copied is the answer as shown.
        row = next(i for i, line in enumerate(lines) if "lazy dog" in line)
        start = lines[row].index("quick")
        drag(term, row, start, start + 8)
        term.key("C-c")
        wait_written(raw, OSC52 + ".*" + OSC52)
        assert copied(raw)[-1] == answer.replace("**", "")


def test_no_mouse_leaves_the_mouse_to_the_terminal(repo: Path, isolated_home: Path) -> None:
    mouse_on = "\x1b[?1000h"  # what asks the terminal for mouse reports
    with chat_in_tmux(repo, ["ok"], "--no-mouse") as (term, raw):
        term.wait_until_ready()
        assert "\x1b[?1049h" in written(raw)  # the app's set-up was read: the screen...
        assert mouse_on not in written(raw)  # ...without the mouse
    with chat_in_tmux(repo, ["ok"]) as (term, raw):
        term.wait_until_ready()
        assert mouse_on in written(raw)
