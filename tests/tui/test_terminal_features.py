"""The chat sharing the terminal, under Pilot: paste chips, pasted image files, /copy,
/export, /keys, /sessions search, notifications only when unfocused, the `[tui]` config
and the inline transcript's bookkeeping. The real terminal is tests/tui/test_tmux_terminal.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image
from textual import events

from agent.config import ConfigError, load_config
from agent.sessions import SessionStore
from tests.support import call
from tests.tui.pilot import chat, chat_app, transcript_text, type_and_send, wait_approval, wait_idle
from tui.terminal_io import Notifier, notification_sequence
from tui.widgets.paste_chips import PastedChips, pasted_image_files

LOG = "".join(f"line {n}\n" for n in range(1, 241))
FIX = call("edit_file", path="calc.py", old_string="a - b", new_string="a + b")
ANSWER = "Fixed.\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nAnd `mul` is fine."


def _stored_task() -> str:
    store = SessionStore()
    try:
        (info,) = store.list()
        return info.task
    finally:
        store.close()


def test_a_big_paste_is_a_chip_sent_whole(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, ["Got the log."])
        async with app.run_test(size=(100, 30)) as pilot:
            box = chat(app).prompt
            box.post_message(events.Paste(LOG))
            await pilot.pause()
            assert box.text == "[pasted 240 lines]"
            await pilot.press(*" explain", "enter")
            await wait_idle(pilot, app)
        assert _stored_task() == LOG + " explain"  # the paste exactly, its last newline too

    asyncio.run(scenario())


def test_ctrl_l_expands_the_chip_in_the_box(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, ["ok"])
        async with app.run_test(size=(100, 30)) as pilot:
            box = chat(app).prompt
            box.post_message(events.Paste("a\nb\nc\nd\ne\nf\n"))
            box.post_message(events.Paste("x\ny"))  # a small paste stays text
            await pilot.pause()
            assert box.text == "[pasted 6 lines]x\ny"
            await pilot.press("ctrl+l")
            assert box.text == "a\nb\nc\nd\ne\nf\nx\ny"

    asyncio.run(scenario())


def test_chips_keep_their_own_text_and_labels_stay_apart() -> None:
    chips = PastedChips()
    first, second = chips.make("1\n2\n3\n"), chips.make("4\n5\n6")
    assert (first, second) == ("[pasted 3 lines]", "[pasted 3 lines #2]")
    assert chips.expand(f"{second} then {first}") == "4\n5\n6 then 1\n2\n3\n"
    assert chips.expand("typed [pasted 9 lines]") == "typed [pasted 9 lines]"


def test_a_pasted_image_file_becomes_an_attachment(repo: Path) -> None:
    Image.new("RGB", (40, 30), "red").save(repo / "my shot.png")

    async def scenario() -> None:
        app = chat_app(repo, ["I see a red box."])
        async with app.run_test(size=(100, 30)) as pilot:
            box = chat(app).prompt
            box.post_message(events.Paste(f"'{repo / 'my shot.png'}'"))
            await pilot.pause(0.5)
            assert box.text == ""  # not pasted as text
            assert "my shot.png · 40×30" in transcript_text(app)
            assert len(chat(app).pending_images) == 1

    asyncio.run(scenario())


def test_pasted_paths_are_images_only_when_all_are_image_files(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    uri = f"file://{tmp_path}/a.png"
    assert pasted_image_files(uri, None) == [tmp_path / "a.png"]
    assert pasted_image_files("a.png", tmp_path) == [tmp_path / "a.png"]
    assert pasted_image_files("a.png notes.txt", tmp_path) == []
    assert pasted_image_files("look at a.png", tmp_path) == []
    assert pasted_image_files("missing.png", tmp_path) == []


def test_copy_export_and_keys(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [FIX, ANSWER], approval="auto-edit")
        async with app.run_test(size=(110, 40)) as pilot:
            await type_and_send(pilot, "fix add")
            await wait_idle(pilot, app)
            await type_and_send(pilot, "/copy code")
            assert app.clipboard == "def add(a, b):\n    return a + b"
            await pilot.press("ctrl+o")
            assert app.clipboard == ANSWER
            await type_and_send(pilot, "/copy code 3")
            assert "there are 1 code blocks" in transcript_text(app)
            await type_and_send(pilot, "/export notes/out.md")
            await pilot.pause(0.3)
            exported = (repo / "notes" / "out.md").read_text()
            assert "> fix add" in exported
            assert "<summary>tool <code>edit_file</code> calc.py — ok</summary>" in exported
            assert "```diff\n--- a/calc.py" in exported and "+    return a + b" in exported
            assert "```python\ndef add(a, b):" in exported
            card = chat(app).builder.tools["call_1_0"] if "call_1_0" in chat(
                app).builder.tools else next(iter(chat(app).builder.tools.values()))
            assert not card.expanded
            await pilot.press("ctrl+f")  # the keyboard's click on the last card
            assert card.expanded
            await type_and_send(pilot, "/keys")
            keys = transcript_text(app)
            for expected in ("escape", "Stop", "ctrl+o", "ctrl+g", "ctrl+l", "/export"):
                assert expected in keys

    asyncio.run(scenario())


def test_export_to_an_unwritable_place_says_why(repo: Path) -> None:
    (repo / "taken").write_text("a file, not a folder")

    async def scenario() -> None:
        app = chat_app(repo, ["hi"])
        async with app.run_test(size=(100, 30)) as pilot:
            await type_and_send(pilot, "hello")
            await wait_idle(pilot, app)
            await type_and_send(pilot, "/export taken/out.md")
            await pilot.pause(0.3)
            assert "/export: cannot write" in transcript_text(app)

    asyncio.run(scenario())


def test_sessions_search_by_text_and_repo(repo: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, ["The parser is in lexer.py.", "Tests pass."])
        async with app.run_test(size=(110, 30)) as pilot:
            await type_and_send(pilot, "where is the parser")
            await wait_idle(pilot, app)
            await type_and_send(pilot, "/sessions lexer.py --here")
            assert "where is the parser" in transcript_text(app).split("sessions (newest")[-1]
            await type_and_send(pilot, "/sessions nothing-like-this")
            assert "no session matches" in transcript_text(app)
            await type_and_send(pilot, "/sessions --repo")
            assert "--repo needs a directory" in transcript_text(app)

    asyncio.run(scenario())
    store = SessionStore()
    try:
        assert len(store.search("PARSER")) == 1  # the task, any case
        assert len(store.search("lexer.py")) == 1  # an answer
        assert store.search("50%_off") == []  # LIKE wildcards are literal
        assert len(store.search("", str(repo))) == 1
        assert store.search("", str(tmp_path / "elsewhere")) == []
    finally:
        store.close()


def test_notifications_only_while_unfocused_and_never_when_off(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [FIX, "Not fixed.", FIX, "Still not."])
        async with app.run_test(size=(100, 30)) as pilot:
            await type_and_send(pilot, "fix add")
            panel = await wait_approval(pilot, app)
            assert app.notifier.sent == 0  # focused: the person sees it
            panel.answer.set_result("deny")
            await wait_idle(pilot, app)
            assert app.notifier.sent == 0
            app.post_message(events.AppBlur())  # the person went to another window
            await pilot.pause()
            chat(app).send("try again")
            panel = await wait_approval(pilot, app)
            assert app.notifier.sent == 1  # the approval waits
            panel.answer.set_result("deny")
            await wait_idle(pilot, app)
            await pilot.pause(0.2)
            assert app.notifier.sent == 2  # and the task finished
            app.notifier.mode = "off"
            assert not app.notifier.notify("x")

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="notify"):
        Notifier(None, "sometimes")  # type: ignore[arg-type]


def test_notification_sequences() -> None:
    plain = notification_sequence("Tessera", "an approval; waits", in_tmux=False)
    assert plain == ("\x1b]9;Tessera: an approval; waits\x07"
                     "\x1b]777;notify;Tessera;an approval, waits\x07\x07")
    wrapped = notification_sequence("Tessera", "done", in_tmux=True)
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]9;Tessera: done\x07\x1b\\")


def test_tui_settings_are_read_and_checked(repo: Path) -> None:
    config = load_config(repo)
    assert (config.tui_inline, config.tui_mouse, config.tui_notify) == (False, True, "auto")
    (repo / ".tessera").mkdir()
    (repo / ".tessera" / "config.toml").write_text(
        '[tui]\ninline = true\nmouse = false\nnotify = "off"\n'
    )
    config = load_config(repo)
    assert (config.tui_inline, config.tui_mouse, config.tui_notify) == (True, False, "off")
    (repo / ".tessera" / "config.toml").write_text('[tui]\nnotify = "loud"\n')
    with pytest.raises(ConfigError, match=r"tui\.notify"):
        load_config(repo)


def test_resume_picker_searches_and_switches_the_chat(repo: Path) -> None:
    async def scenario() -> None:
        # Each conversation replays the file from its start: every answer is this one.
        app = chat_app(repo, ["The parser is in lexer.py."])
        async with app.run_test(size=(110, 30)) as pilot:
            await type_and_send(pilot, "where is the parser")
            await wait_idle(pilot, app)
            first = chat(app).session.session_id
            await type_and_send(pilot, "/clear")
            await type_and_send(pilot, "rename the loader")
            await wait_idle(pilot, app)
            second = chat(app).session.session_id
            assert first and second and first != second
            await type_and_send(pilot, "/resume")
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "SessionPicker"
            assert [i.id for i in app.screen.found] == [second, first]  # newest first
            await pilot.press(*"LEXER.py repo:.")
            await pilot.pause(0.2)
            assert [i.id for i in app.screen.found] == [second, first]  # answers match
            await pilot.press(*["backspace"] * len("LEXER.py repo:."), *"where is repo:.")
            await pilot.pause(0.2)
            assert [i.id for i in app.screen.found] == [first]  # the task matches
            await pilot.press("enter")
            await pilot.pause(0.5)
            assert chat(app).session.session_id == first  # the chat switched to it
            assert "where is the parser" in transcript_text(app)
            assert "rename the loader" not in transcript_text(app)
            await type_and_send(pilot, "/resume nope")
            assert "/resume: no session matches" in transcript_text(app)
            await type_and_send(pilot, "and now?")
            await wait_idle(pilot, app)
            assert "› and now?" in transcript_text(app)
        store = SessionStore()
        try:
            assert [e.type for e in store.events(first)].count("user_message") == 1
        finally:
            store.close()

    asyncio.run(scenario())
