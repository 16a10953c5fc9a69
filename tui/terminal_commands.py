"""Commands that deal with the terminal around the chat: `/copy`, `/export`, `/keys`.

Registered with tui/commands.py's `command` table on import (tui/app.py imports this
module), so the commands module itself stays as it was. Copying goes through Textual's
`App.copy_to_clipboard`, which writes OSC 52: it reaches the local clipboard over SSH and
through tmux (with `set-clipboard on`, tmux's default for terminals that allow it).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tui.commands import COMMANDS, CommandContext, command
from tui.export import code_blocks, export_markdown
from tui.records import TextRecord

if TYPE_CHECKING:
    from tui.commands import CommandScreen

# Keys handled inside the message box (tui/widgets/prompt.py), which no binding lists.
PROMPT_KEYS = [
    ("enter", "send the message (a pasted chip goes whole)"),
    ("ctrl+j / alt+enter", "new line"),
    ("up / down", "history, at the first / last line"),
    ("tab", "complete @path"),
    ("ctrl+l", "expand the pasted chips in the box"),
    ("ctrl+c", "copy the text selected with the mouse"),
]
EDITING_KEYS = ("ctrl+a / ctrl+e line start / end · ctrl+w / ctrl+k delete word / to the end · "
                "ctrl+z / ctrl+y undo / redo · ctrl+x / ctrl+v cut / paste · shift+arrows select")


def _answers(screen: CommandScreen) -> list[str]:
    return [r.text for r in screen.transcript.records if isinstance(r, TextRecord) and r.text]


def copy_answer(screen: CommandScreen) -> None:
    answers = _answers(screen)
    if not answers:
        screen.note("nothing to copy yet: no answer", "warning")
        return
    screen.app.copy_to_clipboard(answers[-1])
    screen.note(f"copied the last answer ({len(answers[-1].splitlines())} lines)")


def copy_code(screen: CommandScreen, which: int) -> None:
    """The `which`-th code block from the end (1: the last) of the answers so far."""
    blocks = [block for text in _answers(screen) for block in code_blocks(text)]
    if not blocks:
        screen.note("no code block in the answers yet", "warning")
        return
    if not 1 <= which <= len(blocks):
        screen.note(f"/copy code {which}: there are {len(blocks)} code blocks", "error")
        return
    block = blocks[-which]
    screen.app.copy_to_clipboard(block)
    screen.note(f"copied code block {which} from the end ({len(block.splitlines())} lines)")


@command("copy", "/copy [code [N]]", "copy the last answer, or the N-th last code block "
         "(OSC 52; ctrl+o / ctrl+g)")
async def _copy(ctx: CommandContext, args: list[str]) -> None:
    if not args:
        copy_answer(ctx.screen)
        return
    if args[0] != "code" or len(args) > 2 or (len(args) == 2 and not args[1].isdigit()):
        ctx.screen.note("usage: /copy, /copy code, /copy code N", "error")
        return
    copy_code(ctx.screen, int(args[1]) if len(args) == 2 else 1)


@command("export", "/export [FILE]", "write the conversation as Markdown (default "
         "tessera-SESSION.md in the repository)")
async def _export(ctx: CommandContext, args: list[str]) -> None:
    screen = ctx.screen
    records = list(screen.transcript.records)
    if not records:
        screen.note("nothing to export yet", "warning")
        return
    repo = screen.session.options.repo
    session_id = screen.session.session_id or time.strftime("%Y%m%d-%H%M%S")
    target = Path(" ".join(args)).expanduser() if args else Path(f"tessera-{session_id}.md")
    target = target if target.is_absolute() else repo / target
    text = export_markdown(
        records,
        title=f"Tessera session {session_id}",
        meta=[f"repository: `{repo}`", f"backend: `{screen.stats.backend}`",
              f"exported: {time.strftime('%Y-%m-%d %H:%M')}"],
    )
    try:
        await asyncio.to_thread(_write_new_or_same, target, text)
    except OSError as exc:
        screen.note(f"/export: cannot write {target}: {exc.strerror or exc}", "error")
        return
    screen.note(f"exported {len(records)} entries to {target}")


def _write_new_or_same(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@command("resume", "/resume [ID]", "pick a stored session to continue (search by text and "
         "repo:PART), or continue session ID")
async def _resume(ctx: CommandContext, args: list[str]) -> None:
    from agent.sessions import SessionNotFound
    from tui.screens.sessions import SessionPicker

    screen = ctx.screen
    session = screen.session
    if session.running:
        screen.note("the model is still working; stop it first (Esc)", "warning")
        return
    app = screen.app

    def resume(chosen: str | None) -> None:
        if chosen is not None and chosen != session.session_id:
            app.resume_session(chosen)

    if args:
        try:
            resume(session.store.resolve(args[0]))
        except SessionNotFound as exc:
            screen.note(f"/resume: {exc}", "error")
        return
    picker = SessionPicker(lambda text, repo: session.sessions(50, text, repo),
                           session.options.repo)
    await app.push_screen(picker, resume)


@command("keys", "/keys", "every key binding in this state, and the message box's keys")
async def _keys(ctx: CommandContext, args: list[str]) -> None:
    from textual.widgets import TextArea

    app = ctx.screen.app
    grouped: dict[tuple[int, str], list[str]] = {}  # (node, action) → keys
    described: dict[tuple[int, str], str] = {}
    for key, active in app.screen.active_bindings.items():
        binding = active.binding
        if binding.system or isinstance(active.node, TextArea):
            continue  # the box's editing keys are summed up below
        slot = (id(active.node), binding.action)
        grouped.setdefault(slot, []).append(key)
        described[slot] = binding.description or binding.action.replace("_", " ")
    lines = ["keys here:"]
    lines += [f"  {' / '.join(keys):<20} {described[slot]}" for slot, keys in grouped.items()]
    lines.append("in the message box:")
    lines += [f"  {key:<20} {text}" for key, text in PROMPT_KEYS]
    lines.append(f"  {'editing':<20} {EDITING_KEYS}")
    lines.append(f"commands: {' '.join('/' + name for name in COMMANDS)} (/help explains them)")
    ctx.screen.note("\n".join(lines))
