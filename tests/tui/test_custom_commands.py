"""Custom commands in the chat: `/NAME args` sends the expanded prompt, Tab completes
command names like the built-ins, /help lists them; `/init` asks with AGENTS.md's diff."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support import call
from tests.tui.pilot import (
    chat,
    chat_app,
    transcript_text,
    wait_approval,
    wait_idle,
    wait_until,
)


def add_command(repo: Path) -> None:
    folder = repo / ".tessera" / "commands"
    folder.mkdir(parents=True)
    (folder / "explain.md").write_text("---\ndescription: Explain a file\neffort: none\n---\n"
                                       "Explain $1 in $2 words.\n")


def test_a_custom_command_sends_its_prompt(repo: Path) -> None:
    add_command(repo)

    async def scenario() -> None:
        app = chat_app(repo, ["It adds, wrongly."])
        async with app.run_test() as pilot:
            await pilot.pause(0.2)
            await pilot.press(*"/explain calc.py 10", "enter")
            await wait_until(pilot, lambda: "It adds, wrongly." in transcript_text(app))
            await wait_idle(pilot, app)
            text = transcript_text(app)
            assert "Explain calc.py in 10 words." in text
            assert "/explain asks for effort none" in text
            assert chat(app).session.driver.options.effort == "none"

    asyncio.run(scenario())


def test_tab_completes_custom_and_built_in_commands(repo: Path) -> None:
    add_command(repo)

    async def scenario() -> None:
        app = chat_app(repo, [])
        async with app.run_test() as pilot:
            prompt = chat(app).prompt
            await pilot.pause(0.2)
            await pilot.press(*"/expl", "tab")  # (/exp is also /export)
            assert prompt.text == "/explain "
            prompt.load_text("/sk")
            prompt.move_cursor(prompt.document.end)
            await pilot.press("tab")
            assert prompt.text == "/skills "
            prompt.load_text("/nope")
            prompt.move_cursor(prompt.document.end)
            await pilot.press("tab")
            assert prompt.text == "/nope"  # nothing to complete: left as typed

    asyncio.run(scenario())


def test_help_lists_custom_commands_and_an_unknown_one_is_an_error(repo: Path) -> None:
    add_command(repo)

    async def scenario() -> None:
        app = chat_app(repo, [])
        async with app.run_test() as pilot:
            await pilot.pause(0.2)
            await pilot.press(*"/help", "enter")
            await wait_until(pilot, lambda: "/explain [ARGS]" in transcript_text(app))
            assert "Explain a file" in transcript_text(app)
            await pilot.press(*"/nope", "enter")
            await wait_until(pilot, lambda: "unknown command /nope" in transcript_text(app))
            assert "the custom commands are: /explain" in transcript_text(app)

    asyncio.run(scenario())


def test_init_asks_with_the_diff_of_agents_md_even_under_auto(repo: Path) -> None:
    agents = "# AGENTS.md\n\n## Layout\n\n- calc.py: arithmetic\n"
    turns = [call("list_files", path="."), call("write_agents_md", content=agents),
             "Wrote AGENTS.md."]

    async def scenario() -> None:
        app = chat_app(repo, turns, approval="auto")
        async with app.run_test() as pilot:
            await pilot.pause(0.2)
            await pilot.press(*"/init", "enter")
            panel = await wait_approval(pilot, app)
            assert panel.tool == "write_agents_md"
            assert "+## Layout" in panel.preview["diff"]
            assert not (repo / "AGENTS.md").exists()  # nothing written before yes
            await pilot.press("y")
            await wait_idle(pilot, app)
            assert (repo / "AGENTS.md").read_text() == agents
            assert "Wrote AGENTS.md." in transcript_text(app)
            assert chat(app).session.driver.profile.name == "init"

    asyncio.run(scenario())
