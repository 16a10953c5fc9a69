"""The chat screen: transcript, inline approvals, the message box and the status line.

It listens to the session (events, live deltas, approval requests) and sends intents
back (messages, answers, stop). Live deltas only mark records dirty; a 20 Hz refresh,
running only while the model generates, re-renders what changed, so a fast stream never
starves typing and an idle screen has no timers at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar, TypeVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from agent import events as ev
from agent.approval import CallFacts
from agent.backend import Delta, TextDelta, ThinkingDelta
from tui.commands import CommandContext, command_names, run_command
from tui.records import ImageChip, NoteRecord, Record, TranscriptBuilder, UserRecord
from tui.screens.chat_planning import PlanningMixin
from tui.session import ChatSession, SessionSetupError
from tui.styles import STYLES
from tui.widgets.approval import ApprovalPanel
from tui.widgets.live import LiveArea
from tui.widgets.prompt import PromptInput
from tui.widgets.status import Stats, StatusBar
from tui.widgets.todo import TodoPanel
from tui.widgets.transcript import Transcript

REFRESH_HZ = 20
T = TypeVar("T")


class ChatScreen(PlanningMixin, Screen):
    CSS_PATH = STYLES / "chat.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop", priority=True),
        Binding("shift+tab", "toggle_plan", "Plan mode", priority=True),
        Binding("ctrl+r", "review", "Review"),
        Binding("ctrl+t", "app.show_tasks", "Runs", priority=True),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(
        self,
        session: ChatSession,
        stats: Stats,
        transcript: Transcript | None = None,
        on_state: Callable[[str, str], None] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.stats = stats
        # An inline app passes its own (tui/widgets/inline_transcript.py).
        self.transcript = transcript or Transcript(id="transcript")
        self.on_state = on_state  # (before, after): notifications, the inline scrollback
        self.prompt = PromptInput(root=session.options.repo, id="prompt",
                                  commands=lambda: command_names(session.options.repo))
        self.status_bar = StatusBar(stats, id="status")
        self.live = LiveArea(id="live")
        self.todo_panel = TodoPanel(id="todo")
        self._question = None  # the model's question while it waits (chat_planning.py)
        self._plan_panel = None  # a plan while it waits for the user's decision
        self._pending_plan = None  # the plan of the turn now ending
        self.builder = TranscriptBuilder(self._add_record, self._touch, self._live_changed)
        self._dirty: dict[int, Record] = {}
        self._live_dirty = False
        self._ticker: Timer | None = None
        self._worker: Worker | None = None
        self._approval: ApprovalPanel | None = None
        self.ready = False  # mounted, with any resumed history shown
        # Images attached with /image, sent with the next message: (description, chip).
        self.pending_images: list[tuple[dict, ImageChip]] = []
        # The last model review's findings per base, shown again when /review reopens.
        self.review_findings: dict[str, list] = {}
        self._engine_noted = False

    def compose(self) -> ComposeResult:
        yield self.transcript
        yield self.live
        yield self.todo_panel
        yield self.prompt
        yield self.status_bar

    def on_mount(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        self._ticker = self.set_interval(1 / REFRESH_HZ, self._flush, pause=True)
        self.prompt.focus()
        self.ready = True
        self.status_bar.refresh_stats()
        if self.stats.sandbox_isolated is False:  # known before this screen existed
            self.note(f"⚠ {self.stats.sandbox}. Every command asks for approval.", "error")
        try:
            events = self.session.load_resumed()
        except SessionSetupError as exc:
            self.note(f"cannot resume: {exc}", "error")
            return
        if events:
            self.show_history(events)
            self.offer_undecided_plan(events)
            self.stats.backend = self.session.backend_spec or self.stats.backend
            self.note(f"resumed session {self.session.session_id}; send a message to continue")

    # -- records -----------------------------------------------------------------------

    def _add_record(self, record: Record) -> None:
        self.transcript.add(record)

    def _touch(self, record: Record) -> None:
        if self.session.running:
            self._dirty[id(record)] = record  # re-rendered on the next tick
        else:
            self.transcript.update_record(record)

    def _live_changed(self) -> None:
        if self.session.running and (self.builder.live_text or self.builder.live_thinking):
            self._live_dirty = True  # painted on the next tick
        else:
            self.live.show_live(self.builder.live_thinking, self.builder.live_text)

    def _flush(self) -> None:
        if self._live_dirty:
            self._live_dirty = False
            self.live.show_live(self.builder.live_thinking, self.builder.live_text)
        if self._dirty:
            dirty, self._dirty = self._dirty, {}
            for record in dirty.values():
                self.transcript.update_record(record)
        self.status_bar.refresh_stats()

    def note(self, text: str, level: str = "info") -> None:
        self._add_record(NoteRecord(text, level))

    def show_history(self, events: list[ev.Event]) -> None:
        """A resumed session's stored events, rendered in one batch."""
        records: list[Record] = []
        builder = TranscriptBuilder(records.append, lambda r: None)
        for event in events:
            builder.event(event)
            if isinstance(event, ev.Todo):
                self.todo_panel.show_items(event.items)
            if isinstance(event, ev.Usage):
                self.stats.usage(
                    event.prompt_tokens, event.cached_prompt_tokens, event.completion_tokens
                )
        self.transcript.add_many(records)
        self.builder.step = builder.step
        self.status_bar.refresh_stats()

    # -- the session's listener ----------------------------------------------------------

    def session_event(self, event: ev.Event) -> None:
        self.builder.event(event)
        if isinstance(event, ev.Todo):
            self.todo_panel.show_items(event.items)
        elif isinstance(event, ev.Plan):
            self._pending_plan = event  # decided once the turn has ended
        self.stats.context_window = self.session.context_window
        if isinstance(event, ev.Usage):
            self.stats.usage(
                event.prompt_tokens, event.cached_prompt_tokens, event.completion_tokens
            )
            self.stats.stream_started()
        elif isinstance(event, ev.Effort):
            self.stats.effort_step(event.value, event.budget)
            self.stats.stream_started()
        elif isinstance(event, ev.EngineServing):
            self.stats.engine_serving(event)
            self.status_bar.refresh_stats()
        elif isinstance(event, ev.ToolCall | ev.ToolResult | ev.Checkpoint | ev.Finish):
            self._flush()

    def session_delta(self, delta: Delta) -> None:
        if isinstance(delta, TextDelta | ThinkingDelta):
            self.stats.stream_progress(len(delta.text))
        self.builder.delta(delta)

    def session_progress(self, text: str) -> None:
        # Called from the engine-start thread: hop onto the app's loop.
        self._event_loop.call_soon_threadsafe(self._show_progress, text)

    def _show_progress(self, text: str) -> None:
        if not self._engine_noted:
            self._engine_noted = True
            self.note(
                "starting the local engine; the first start loads the weights and takes a while"
            )
        line = " ".join(text.split())
        self._set_state(line if len(line) <= 60 else line[:59] + "…")

    async def request_approval(self, facts: CallFacts, call: ev.ToolCall) -> str:
        self._flush()
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        # The "requested" approval event, just handled, brought the reason and the tool's
        # own preview of the change.
        record = self.builder.tools.get(call.id)
        reason = record.approval_note if record else ""
        preview = record.preview if record else {}
        # "Always" remembers this exact command, or the whole tool (agent/approval.py).
        always = "Always this command" if facts.command else f"Always {call.name}"
        panel = ApprovalPanel(
            call.name,
            call.arguments,
            reason,
            preview,
            answer,
            f"{always}, this session",
            id="approval",
        )
        self._approval = panel
        try:
            return await self._answer_in(panel, answer, "waiting for you")
        finally:
            self._approval = None
            self._set_state("working")

    async def _answer_in(self, panel: Widget, answer: asyncio.Future[T], state: str) -> T:
        """Show `panel` above the message box until `answer` resolves (or the turn is
        stopped, which cancels the wait)."""
        await self.mount(panel, before=self.prompt)
        self._set_state(state)
        try:
            return await answer
        finally:
            if panel.is_mounted:
                await panel.remove()
            self.prompt.focus()

    # -- intents ---------------------------------------------------------------------------

    async def on_prompt_input_submitted(self, message: PromptInput.Submitted) -> None:
        text = message.text
        if text.startswith("/"):
            await run_command(CommandContext(self), text)
            return
        self.send(text)

    def send(self, text: str) -> None:
        busy = self._worker is not None and self._worker.is_running
        if self.session.running or busy:
            self.note("the model is still working; wait, or press Esc to stop it first", "warning")
            return
        from agent.attachments import image_paths_in

        typed = image_paths_in(text, self.session.options.repo)
        self._set_state("working")
        if not typed and not self.pending_images:
            self._echo(text, [])
            self._worker = self._run_turn(text, [])
        else:
            self._worker = self._attach_and_run(text, typed)

    def _echo(self, text: str, chips: list[ImageChip]) -> None:
        self._add_record(UserRecord(text, chips))
        self.builder.user_echoed = True

    async def attach_images(self, paths: list[Path]) -> list[tuple[dict, ImageChip]]:
        """Validate and store images off the UI thread; raises AttachmentError."""
        from agent import paths as data_paths
        from agent.attachments import attach

        images = await asyncio.to_thread(attach, paths, data_paths.data_dir())
        return [(image, ImageChip.of(image, p.name)) for image, p in zip(images, paths,
                                                                          strict=True)]

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def _attach_and_run(self, text: str, typed: list[Path]) -> None:
        """A message that names image files, or follows /image: they go with it."""
        from agent.attachments import AttachmentError

        try:
            attached = [*self.pending_images, *await self.attach_images(typed)]
        except AttachmentError as exc:
            self.note(f"not sent: {exc}", "error")
            self._set_state("idle")
            return
        self.pending_images = []
        self._echo(text, [chip for _, chip in attached])
        await self._run_turn_body(text, [image for image, _ in attached])

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def _run_turn(self, text: str, images: list[dict]) -> None:
        await self._run_turn_body(text, images)

    async def _run_turn_body(self, text: str, images: list[dict]) -> None:
        assert self._ticker is not None
        self._ticker.resume()
        self._pending_plan = None
        try:
            await self.session.send(text, images)
            await self._settle_plans()
        except SessionSetupError as exc:
            self.builder.user_echoed = False
            self.note(f"cannot start: {exc}", "error")
        finally:
            self.stats.context_window = self.session.context_window  # known even if refused
            self._ticker.pause()
            self._flush()
            self._set_state("idle")

    def compact(self) -> None:
        """/compact: the model summarises the older turns now (Esc stops it)."""
        busy = self._worker is not None and self._worker.is_running
        if self.session.running or busy:
            self.note("the model is still working; wait, or press Esc to stop it first", "warning")
            return
        self._set_state("compacting")
        self._worker = self._compact()

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def _compact(self) -> None:
        from agent.backend import BackendError
        from agent.compaction import CompactionError, NothingToCompact

        async with self.ticking():
            try:
                await self.session.compact()
            except NothingToCompact as exc:
                self.note(f"/compact: {exc}", "warning")
            except (CompactionError, SessionSetupError, BackendError) as exc:
                self.note(f"/compact: {exc}", "error")
            except asyncio.CancelledError:
                self.note("/compact stopped; the history is unchanged", "warning")
                raise
            else:
                if self.session.loop is not None:
                    self.stats.context_tokens = self.session.loop.context_tokens

    @asynccontextmanager
    async def ticking(self) -> AsyncIterator[None]:
        """Repaint what the model streams while the body runs; idle after it."""
        assert self._ticker is not None
        self._ticker.resume()
        try:
            yield
        finally:
            self._ticker.pause()
            self._flush()
            self._set_state("idle")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.group == "turn":
            self.note(f"internal error: {event.worker.error!r}", "error")

    def action_stop(self) -> None:
        """Esc: stop the generation. What streamed stays on screen; the session is kept."""
        if self._approval is not None and not self._approval.answer.done():
            self._approval.answer.set_result("deny")
        if self._worker is not None and self._worker.is_running:
            self._worker.cancel()
            self.builder.stop()
            self._flush()

    async def action_review(self) -> None:
        await run_command(CommandContext(self), "/review")

    def _set_state(self, state: str) -> None:
        before, self.stats.state = self.stats.state, state
        self.status_bar.refresh_stats()
        if state == "idle":
            self.transcript.settle()
        if self.on_state is not None and before != state:
            self.on_state(before, state)
