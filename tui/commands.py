"""Slash commands typed in the message box.

Each command is a small async function over the screen it was typed in, seen through
`CommandScreen` (the chat screen is one): the screen imports this module, so this module
never imports the screen. What goes wrong is said plainly in the transcript.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from textual.screen import Screen

    from agent.autonomous_runs import TaskManager
    from tui.records import ImageChip
    from tui.session import ChatSession
    from tui.widgets.status import Stats, StatusBar
    from tui.widgets.todo import TodoPanel
    from tui.widgets.transcript import Transcript


class CommandApp(Protocol):
    """What commands use of the application around the screen."""

    tasks: TaskManager | None  # the autonomous runs, once the session is set up

    def push_screen(
        self, screen: Screen, callback: Callable[[Any], None] | None = None
    ) -> Awaitable[object]: ...

    def action_show_tasks(self) -> None: ...

    def exit(self) -> None: ...

    def copy_to_clipboard(self, text: str) -> None: ...  # OSC 52

    def resume_session(self, session_id: str) -> None: ...  # switch the chat to it

    @property
    def screen(self) -> Screen: ...


class CommandScreen(Protocol):
    """What a slash command may use of the screen it was typed in."""

    session: ChatSession
    stats: Stats
    status_bar: StatusBar
    transcript: Transcript
    todo_panel: TodoPanel  # the model's latest todo list
    # Images going with the next message: (description for the model, chip shown).
    pending_images: list[tuple[dict, ImageChip]]
    review_findings: dict[str, list]  # the last model review's findings per base

    @property
    def app(self) -> CommandApp: ...

    def note(self, text: str, level: str = "info") -> None: ...

    def send(self, text: str) -> None: ...

    def compact(self) -> None: ...

    def set_plan_mode(self, on: bool) -> None: ...

    async def attach_images(self, paths: list[Path]) -> list[tuple[dict, ImageChip]]: ...


@dataclass
class CommandContext:
    screen: CommandScreen


Handler = Callable[[CommandContext, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    handler: Handler


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, help_text: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, usage, help_text, handler)
        return handler

    return register


async def run_command(ctx: CommandContext, line: str) -> None:
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    name, args = words[0][1:].lower(), words[1:]
    cmd = COMMANDS.get(name)
    if cmd is None:
        await run_custom_command(ctx, line)
        return
    await cmd.handler(ctx, args)


def command_names(repo: Path) -> list[str]:
    """Every slash command: the built-ins and the custom commands (what Tab completes)."""
    from agent.custom_commands import discover_commands

    custom, _ = discover_commands(repo)
    return sorted({*COMMANDS, *custom})


async def run_custom_command(ctx: CommandContext, line: str) -> None:
    """`/NAME args` of a prompt file (agent/custom_commands.py): its prompt is sent."""
    from agent.custom_commands import CommandError, expand_invocation

    screen = ctx.screen
    try:
        expanded = await asyncio.to_thread(expand_invocation, screen.session.options.repo, line)
    except CommandError as exc:
        screen.note(f"{exc}; /help lists the built-in ones", "error")
        return
    assert expanded is not None
    if expanded.command.effort and not screen.session.running:
        screen.session.set_effort(expanded.command.effort)
        screen.note(f"/{expanded.command.name} asks for effort {expanded.command.effort}")
    screen.send(expanded.prompt)


@command("help", "/help", "this list, and the keys")
async def _help(ctx: CommandContext, args: list[str]) -> None:
    from agent.custom_commands import discover_commands

    custom, _ = await asyncio.to_thread(discover_commands, ctx.screen.session.options.repo)
    usages = [(c.usage, c.help) for c in COMMANDS.values()]
    usages += [(f"/{c.name} [ARGS]", c.description or f"custom: {c.path}") for c in custom.values()]
    width = max(len(usage) for usage, _ in usages)
    lines = [f"{usage:<{width}}  {text}" for usage, text in usages]
    keys = (
        "keys: Enter send · ctrl+j new line · ↑/↓ history · Tab completes @path and /command · "
        "Esc stop the model · shift+tab plan mode · ctrl+t autonomous runs · "
        "ctrl+r review · ctrl+↑ earlier entries · click a tool card or a folded thought to "
        "unfold it (ctrl+f: the last one) · ctrl+c copy the selection · ctrl+o copy the last "
        "answer · ctrl+g the last code block · ctrl+l expand pasted chips · /keys all keys · "
        "ctrl+q quit"
    )
    ctx.screen.note("\n".join([*lines, "", keys]))


@command("effort", "/effort [none|high|auto]", "reasoning effort for the next steps")
async def _effort(ctx: CommandContext, args: list[str]) -> None:
    session = ctx.screen.session
    if not args:
        mode = session.loop.settings.effort.mode if session.loop else session.options.effort
        ctx.screen.note(f"effort: {mode or 'auto'} (none, high, or auto: chosen per step)")
        return
    try:
        mode = session.set_effort(args[0])
    except ValueError as exc:
        ctx.screen.note(str(exc), "error")
        return
    ctx.screen.note(f"effort set to {mode} for the next steps")


@command("undo", "/undo", "restore the files to the last checkpoint before agent changes")
async def _undo(ctx: CommandContext, args: list[str]) -> None:
    if ctx.screen.session.running:
        ctx.screen.note("stop the model first (Esc): it may be changing files", "warning")
        return
    try:
        result = await asyncio.to_thread(ctx.screen.session.undo)
    except Exception as exc:  # NothingToUndo, NotAGitRepo, RestoreConflict: all for the user
        ctx.screen.note(f"undo: {exc}", "error")
        return
    changed = len(result.restored) + len(result.removed)
    ctx.screen.note(
        f"restored checkpoint {result.checkpoint.id} ({result.checkpoint.label}): "
        f"{changed} file(s) changed back. The state before this undo is saved as "
        f"{result.safety.id}, so `tessera undo {result.safety.id}` brings it back."
    )


@command("checkpoints", "/checkpoints", "the checkpoints taken before agent changes")
async def _checkpoints(ctx: CommandContext, args: list[str]) -> None:
    try:
        found = await asyncio.to_thread(ctx.screen.session.checkpoints)
    except Exception as exc:
        ctx.screen.note(f"checkpoints: {exc}", "error")
        return
    if not found:
        ctx.screen.note("no checkpoints yet: one is taken before the agent's first change")
        return
    lines = [f"{c.id}  {c.created_at:%Y-%m-%d %H:%M}  {c.kind:<10} {c.label}" for c in found[:20]]
    ctx.screen.note("\n".join(["checkpoints (newest first):", *lines]))


@command("mcp", "/mcp", "the MCP servers: state, tools, errors (tessera mcp to configure)")
async def _mcp(ctx: CommandContext, args: list[str]) -> None:
    from agent import paths
    from tui.mcp_view import mcp_lines

    statuses, warnings = await asyncio.to_thread(ctx.screen.session.mcp_servers)
    ctx.screen.note(*mcp_lines(statuses, warnings, paths.user_config_file()))


@command(
    "review",
    "/review [BASE]",
    "review changes against HEAD (or BASE) hunk by hunk; m there asks the model for findings",
)
async def _review(ctx: CommandContext, args: list[str]) -> None:
    from tui.screens.review import ReviewScreen

    if ctx.screen.session.running:
        ctx.screen.note("stop the model first (Esc): it may be changing files", "warning")
        return
    from tui.reviewing import ModelReviewer

    session = ctx.screen.session
    base = args[0] if args else "HEAD"
    reviewer = ModelReviewer(
        session.options.repo,
        session.backend_spec or session.options.backend,
        db_path=session.options.db_path,
    )
    kept = ctx.screen.review_findings

    def keep(findings: list) -> None:
        kept[base] = findings

    screen = ReviewScreen(session.options.repo, base, ask_model=ctx.screen.send,
                          reviewer=reviewer, findings=kept.get(base), on_findings=keep)
    await ctx.screen.app.push_screen(screen)


def session_filter(args: list[str], here: Path) -> tuple[str, str]:
    """`/sessions` words → (text, repository path part): `--here` is this repository."""
    words, repo = list(args), ""
    if "--here" in words:
        words.remove("--here")
        repo = str(here.resolve())
    if "--repo" in words:
        at = words.index("--repo")
        if at + 1 >= len(words):
            raise ValueError("--repo needs a directory or a part of its path")
        from agent.cli.sessions import repo_filter

        repo = repo_filter(words[at + 1])
        del words[at : at + 2]
    return " ".join(words), repo


@command("sessions", "/sessions [TEXT] [--here|--repo DIR]", "stored sessions, or those "
         "whose messages contain TEXT (resume with `tessera chat --resume ID`)")
async def _sessions(ctx: CommandContext, args: list[str]) -> None:
    try:
        text, repo = session_filter(args, ctx.screen.session.options.repo)
    except ValueError as exc:
        ctx.screen.note(f"/sessions: {exc}", "error")
        return
    found = ctx.screen.session.sessions(20, text, repo)
    if not found:
        ctx.screen.note("no session matches" if text or repo else "no stored sessions yet")
        return
    lines = []
    for info in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
        task = " ".join(info.task.split())[:50]
        lines.append(f"{info.id}  {when}  {info.status:<9} {info.steps:>3} steps  {task}")
    ctx.screen.note(
        "\n".join(
            ["sessions (newest first):", *lines, "resume one with `tessera chat --resume ID`"]
        )
    )


@command("ps", "/ps", "background processes the model started, with the ports they listen on")
async def _ps(ctx: CommandContext, args: list[str]) -> None:
    found = await asyncio.to_thread(ctx.screen.session.processes)
    if not found:
        ctx.screen.note("no background processes (the model starts them with "
                        "bash(background=true); they end with the session)")
        return
    lines = ["background processes:"]
    for p in found:
        ports = ", ".join(f":{port}" for port in p["ports"]) or "no ports"
        lines.append(f"{p['id']:>3}  {p['status']:<20} {ports:<14} {p['uptime_s']:>7.0f}s  "
                     f"{p['command']}")
    ctx.screen.note("\n".join(lines))
@command("verify", "/verify [on|off]", "run the [verify] checks after each step that "
         "changes files, or not")
async def _verify(ctx: CommandContext, args: list[str]) -> None:
    driver = ctx.screen.session.driver
    if args and args[0].lower() in ("on", "off"):
        driver.set_verify(args[0].lower() == "on")
    elif args:
        ctx.screen.note("usage: /verify [on|off]", "error")
        return
    verifier = driver.loop.settings.verifier if driver.loop else None
    commands = ", ".join(verifier.commands) if verifier and verifier.commands else None
    state = "on" if driver.options.verify else "off"
    ctx.screen.note(f"verify {state}: " + (
        f"after each step that changes files: {commands}" if commands else
        "no [verify] commands are configured (add them to .tessera/config.toml)"))


@command("compact", "/compact", "summarise the older turns now to free context")
async def _compact(ctx: CommandContext, args: list[str]) -> None:
    ctx.screen.compact()


@command("model", "/model [SPEC]", "the backend in use; SPEC (replay:FILE, local, openai:URL) "
         "switches to it for the next steps")
async def _model(ctx: CommandContext, args: list[str]) -> None:
    screen = ctx.screen
    if not args:
        spec = screen.session.backend_spec or screen.stats.backend
        serving = "".join(f"\nMoE layers served by: {line}" for line in screen.stats.moe_lines)
        screen.note(f"backend: {spec}; /model SPEC (replay:FILE, local, openai:URL) switches "
                    "for the next steps, keeping the conversation" + serving,
                    "warning" if screen.stats.moe_fell_back else "info")
        return
    from tui.session import SessionSetupError

    spec = " ".join(args)
    try:
        screen.session.switch_backend(spec)
    except SessionSetupError as exc:
        screen.note(f"/model: {exc}; still on {screen.stats.backend}", "error")
        return
    screen.stats.backend = spec
    if not spec.startswith("local"):
        screen.stats.model = ""  # the model directory's name belongs to the local engine
    screen.status_bar.refresh_stats()
    tasks = getattr(screen.app, "tasks", None)
    if tasks is not None:  # autonomous runs started from now on use it too
        tasks.settings.backend = spec
    screen.note(f"backend: {spec} from the next step on; the conversation is kept")


@command("run", "/run [TASK]", "start an autonomous run (several at once); no TASK: watch them")
async def _run(ctx: CommandContext, args: list[str]) -> None:
    app = ctx.screen.app
    if args:
        run = app.tasks.start(" ".join(args))
        ctx.screen.note(
            f"started task #{run.number}; ctrl+t (or /run) shows the runs. It cannot ask "
            "you: what the approval policy would ask about is denied, as in `tessera run`. "
            "It works in a git worktree of its own (unless `worktree.tasks` is off): "
            "review, apply or discard it there."
        )
        return
    app.action_show_tasks()


@command("image", "/image PATH…", "attach images to the next message (/image: list, /image clear)")
async def _image(ctx: CommandContext, args: list[str]) -> None:
    from agent.attachments import AttachmentError

    screen = ctx.screen
    if not args:
        if not screen.pending_images:
            screen.note("no image attached; /image PATH attaches one to your next message "
                        "(or name an image file in the message itself)")
            return
        chips = "\n".join(f"📎 {chip.label()}" for _, chip in screen.pending_images)
        screen.note(f"going with your next message:\n{chips}")
        return
    if args == ["clear"]:
        screen.pending_images = []
        screen.note("attachments dropped")
        return
    base = screen.session.options.repo
    paths = [p if p.is_absolute() else base / p for p in (Path(a).expanduser() for a in args)]
    try:
        attached = await screen.attach_images(paths)
    except AttachmentError as exc:
        screen.note(f"/image: {exc}", "error")
        return
    screen.pending_images.extend(attached)
    chips = "\n".join(f"📎 {chip.label()}" for _, chip in attached)
    screen.note(f"{chips}\ngoes with your next message (/image clear drops it)")


@command("clear", "/clear", "start a fresh conversation (the old one stays stored)")
async def _clear(ctx: CommandContext, args: list[str]) -> None:
    if ctx.screen.session.running:
        ctx.screen.note("stop the model first (Esc)", "warning")
        return
    ctx.screen.session.new_conversation()
    ctx.screen.transcript.clear()
    ctx.screen.todo_panel.show_items([])  # the list was the old conversation's
    ctx.screen.note("new conversation; the previous one stays in /sessions")


@command("plan", "/plan [on|off]", "plan mode: the model explores read-only and ends with a "
         "plan to approve, edit or reject (a toggle; also shift+tab)")
async def _plan(ctx: CommandContext, args: list[str]) -> None:
    if args and args[0] not in ("on", "off"):
        ctx.screen.note("/plan takes on or off (or nothing, to toggle)", "error")
        return
    on = args[0] == "on" if args else not ctx.screen.session.plan_mode
    ctx.screen.set_plan_mode(on)


@command("init", "/init", "a new conversation in which the model studies the repository and "
         "writes AGENTS.md (you approve the diff)")
async def _init(ctx: CommandContext, args: list[str]) -> None:
    from agent.agents_init import INIT, INIT_TASK

    if ctx.screen.session.running:
        ctx.screen.note("stop the model first (Esc)", "warning")
        return
    ctx.screen.session.new_conversation(INIT)
    ctx.screen.transcript.clear()
    ctx.screen.note("a new conversation to write AGENTS.md: read-only tools, and the file is "
                    "written only when you approve its diff; the previous conversation stays "
                    "in /sessions")
    ctx.screen.send(INIT_TASK)


@command("quit", "/quit", "leave Tessera (the session is stored)")
async def _quit(ctx: CommandContext, args: list[str]) -> None:
    ctx.screen.app.exit()


@command("skills", "/skills", "the Agent Skills the model can use, and the ones that are broken")
async def _skills(ctx: CommandContext, args: list[str]) -> None:
    from agent.skills import discover_skills

    skills, problems = await asyncio.to_thread(discover_skills, ctx.screen.session.options.repo)
    if not skills and not problems:
        ctx.screen.note("no skills: put SKILL.md folders in ~/.config/tessera/skills/, "
                        ".tessera/skills/ or .agents/skills/ (docs/skills.md)")
        return
    lines = [f"skills ({len(skills)}; the model reads one with the skill tool):"]
    lines += [f"  {s.name:<20} {s.scope:<10} {s.description}" for s in skills]
    lines += [f"  broken: {p.path}: {p.problem}" for p in problems]
    ctx.screen.note("\n".join(lines), "warning" if problems else "info")
