"""The Tessera terminal app: onboarding when no model is set up, else the chat screen.

Screens live in tui/screens, widgets in tui/widgets, styles in tui/styles/*.tcss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from shlex import quote as shlex_quote
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from agent import events as ev
from agent.autonomous_runs import TaskManager, TaskRun
from tui import terminal_commands  # noqa: F401  (registers /copy, /export, /keys)
from tui.screens.chat import ChatScreen
from tui.session import ChatOptions, ChatSession
from tui.styles import STYLES
from tui.terminal_io import Notifier, TerminalPrefs
from tui.widgets.inline_transcript import InlineTranscript
from tui.widgets.prompt import PromptInput
from tui.widgets.status import Stats
from tui.widgets.transcript import Transcript

# (isolated, description) of the sandbox as commands will see it.
SandboxProbe = Callable[[], tuple[bool, str]]


def probe_sandbox(full_access: bool = False) -> tuple[bool, str]:
    from tools.sandbox.probe import probe_layers

    if full_access:
        return False, "SANDBOX OFF: full-access mode; commands run unconfined"
    layers = probe_layers()
    if layers.isolated:
        return True, "sandbox: bubblewrap" + (" + seccomp" if layers.seccomp.available else "")
    return False, "SANDBOX OFF: commands are not isolated (see `tessera doctor`)"


class TesseraApp(App):
    TITLE = "Tessera"
    CSS_PATH = STYLES / "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+o", "copy_answer", "Copy the last answer"),
        Binding("ctrl+g", "copy_code", "Copy the last code block"),
        Binding("ctrl+f", "unfold_last", "Fold or unfold the last tool card or thought"),
    ]

    def __init__(
        self,
        options: ChatOptions,
        *,
        onboarding: bool = False,
        sandbox_probe: SandboxProbe | None = None,
        stats: Stats | None = None,
        terminal: TerminalPrefs | None = None,
    ) -> None:
        super().__init__()
        self.options = options
        self.terminal = terminal or TerminalPrefs()
        self.notifier = Notifier(self, self.terminal.notify)
        self.onboarding = onboarding
        self.sandbox_probe = sandbox_probe or probe_sandbox
        self.stats = stats or Stats()
        self.stats.backend = options.backend or "local"
        self.session: ChatSession | None = None
        self.chat: ChatScreen | None = None
        self.tasks: TaskManager | None = None
        self._retired: list[ChatSession] = []  # sessions left by /resume

    def on_mount(self) -> None:
        self._probe()
        if self.onboarding:
            from tui.screens.onboarding import OnboardingScreen

            self.push_screen(OnboardingScreen(on_done=self.start_chat))
        else:
            self.start_chat()

    @work(thread=True, exclusive=True, group="probe")
    def _probe(self) -> None:
        isolated, text = self.sandbox_probe()
        self.call_from_thread(self._sandbox_known, isolated, text)

    def _sandbox_known(self, isolated: bool, text: str) -> None:
        self.stats.sandbox, self.stats.sandbox_isolated = text, isolated
        if self.chat is not None and self.chat.ready:
            self.chat.status_bar.refresh_stats()
            if not isolated:
                self.chat.note(f"⚠ {text}. Every command asks for approval.", "error")

    def start_chat(self, replace_current: bool = False) -> None:
        self._describe_backend()
        session = ChatSession(self.options)
        transcript: Transcript | None = None
        if self.terminal.inline:
            transcript = InlineTranscript(lambda: self.stats.state != "idle", id="transcript")
        chat = ChatScreen(session, self.stats, transcript, self._chat_state)
        session.listener = chat
        self.session, self.chat = session, chat
        if self.tasks is None:  # runs outlive a switch of the chat's session
            self.tasks = TaskManager(
                replace(self.options, resume=None),
                session.store,
                self._task_event,
            )
        if self.onboarding or replace_current:
            self.switch_screen(chat)
        else:
            self.push_screen(chat)

    def _task_event(self, run: TaskRun, event: ev.Event | None) -> None:
        """Autonomous runs report here: the tasks screen (when shown) gets every event,
        the chat a line when a run ends."""
        from tui.screens.tasks import TasksScreen

        for screen in self.screen_stack:
            if isinstance(screen, TasksScreen):
                screen.run_changed(run, event)
        ended = not run.active and (event is None or isinstance(event, ev.Finish))
        if ended and self.chat is not None and self.chat.ready:
            level = "info" if run.status == "done" else "warning"
            self.chat.note(f"task #{run.number} {run.status}: {run.summary}", level)

    def _chat_state(self, before: str, after: str) -> None:
        """Tell the person, if they look elsewhere, that Tessera waits for them."""
        if after == "waiting for you":
            self.notifier.notify("an approval is waiting for you")
        elif after == "idle" and before in ("working", "compacting"):
            self.notifier.notify("the task is done" if before == "working" else "compacted")

    def on_prompt_input_files_pasted(self, message: PromptInput.FilesPasted) -> None:
        """A pasted image path (or a file copied in a file manager): an attachment."""
        from tui.commands import CommandContext, run_command

        if self.chat is not None:
            words = " ".join(shlex_quote(str(p)) for p in message.paths)
            self.run_worker(run_command(CommandContext(self.chat), f"/image {words}"))

    def action_copy_answer(self) -> None:
        from tui.terminal_commands import copy_answer

        if self.chat is not None:
            copy_answer(self.chat)

    def action_copy_code(self) -> None:
        from tui.terminal_commands import copy_code

        if self.chat is not None:
            copy_code(self.chat, 1)

    def action_unfold_last(self) -> None:
        """The keyboard's click on the newest tool card or finished thought."""
        from tui.widgets.blocks import ThinkingEntry, ToolEntry

        if self.chat is None:
            return
        foldable = [entry for entry in self.chat.transcript.query(".entry.tool, .entry.thinking")
                    if isinstance(entry, ToolEntry)
                    or (isinstance(entry, ThinkingEntry) and not entry.record.live)]
        if foldable:
            foldable[-1].on_click()
            self.chat.transcript.scroll_to_widget(foldable[-1])

    def action_show_tasks(self) -> None:
        from tui.screens.tasks import TasksScreen

        assert self.tasks is not None
        self.push_screen(TasksScreen(self.tasks))

    def _describe_backend(self) -> None:
        from agent.config import ConfigError, load_config

        try:
            config = load_config(self.options.repo, {"backend.spec": self.options.backend})
        except ConfigError:
            return
        self.stats.backend = config.backend
        if config.model_dir:
            self.stats.model = Path(config.model_dir).name

    def resume_session(self, session_id: str) -> None:
        """Switch the chat to a stored session (`/resume`); the one left stays stored."""
        if self.session is not None:
            if self.session.running:
                raise RuntimeError("the model is still working; stop it first (Esc)")
            self.session.driver.close()  # its background processes end, as with /clear
            self._retired.append(self.session)  # its store may serve the runs: closed at exit
        self.options = replace(self.options, resume=session_id)
        old = self.stats  # the figures start again; what is known of the machine stays
        self.stats = Stats(backend=old.backend, model=old.model, sandbox=old.sandbox,
                           sandbox_isolated=old.sandbox_isolated, clock=old.clock)
        self.start_chat(replace_current=True)

    def unwritten_scrollback(self) -> str:
        """An inline app's entries that never reached the scrollback, as ANSI text."""
        transcript = self.chat.transcript if self.chat is not None else None
        if isinstance(transcript, InlineTranscript):
            return transcript.unwritten_text(self.size.width)
        return ""

    def on_unmount(self) -> None:
        for session in [*self._retired, self.session]:
            if session is not None:
                session.close()
