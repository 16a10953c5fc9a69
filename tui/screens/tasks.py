"""The tasks screen: autonomous runs on the left (status, step, elapsed time, budget
used), the selected run's live events on the right, a box below to start another.

Events of the selected run go straight into its transcript; the list labels change on
events, plus a once-a-second tick for the clocks that runs only while a run is active.

A run in its own git worktree (the default, agent/autonomous_runs.py) shows its branch;
once it ended, v reviews its diff (against the point it started from), a applies it to
your tree (three-way; `tessera undo` reverts it) and d discards it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, ListItem, ListView, Static

from agent import events as ev
from agent.autonomous_runs import TaskManager, TaskRun
from tools.git.apply import Chosen
from tui.records import Record, TranscriptBuilder
from tui.styles import STYLES
from tui.widgets.transcript import Transcript

STATUS_ICON = {
    "starting": ("…", "dim"),
    "running": ("⋯", "cyan"),
    "done": ("✓", "green"),
    "budget": ("⏱", "yellow"),
    "stuck": ("↻", "yellow"),
    "error": ("✗", "red"),
    "cancelled": ("■", "yellow"),
}


def _tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def run_label(run: TaskRun) -> Text:
    icon, style = STATUS_ICON.get(run.status, ("?", ""))
    task = " ".join(run.task.split())
    task = task if len(task) <= 30 else task[:29] + "…"
    return Text.assemble(
        (f"{icon} ", style),
        (f"#{run.number} ", "bold"),
        task,
        "\n  ",
        (
            f"{run.status} · step {run.step}/{run.max_steps} · {run.elapsed:.0f} s · "
            f"{_tokens(run.spent_tokens)} tok",
            "dim",
        ),
        "\n  ",
        (where_label(run), "dim"),
    )


def where_label(run: TaskRun) -> str:
    if run.worktree is None:
        return "your tree" if run.session_id else ""
    return f"⎇ {run.worktree.branch}" + (f" · {run.landed}" if run.landed else "")


class RunItem(ListItem):
    def __init__(self, run: TaskRun) -> None:
        self.run = run
        self.label = Static(run_label(run))
        super().__init__(self.label)

    def sync(self) -> None:
        self.label.update(run_label(self.run))


class TasksScreen(Screen):
    CSS_PATH = STYLES / "tasks.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back"),
        Binding("x", "cancel_run", "Stop run"),
        Binding("v", "review_run", "Review"),
        Binding("a", "apply_run", "Apply"),
        Binding("d", "discard_run", "Discard"),
        Binding("ctrl+n", "new_task", "New task"),
    ]

    def __init__(self, manager: TaskManager) -> None:
        super().__init__()
        self.manager = manager
        self.selected: TaskRun | None = manager.runs[-1] if manager.runs else None
        self.transcript = Transcript(id="run-events")
        self.builder: TranscriptBuilder | None = None
        self._clock: Timer | None = None
        self._discarding: TaskRun | None = None  # d once asks, d again discards
        self.outcome = ""  # what the last apply or discard did, under the run's title

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield ListView(*[RunItem(r) for r in self.manager.runs], id="runs")
            with Vertical(id="run-pane"):
                yield Static("", id="run-title")
                yield self.transcript
        yield Input(placeholder="A task to run on its own (Enter starts it)", id="new-task")
        yield Footer()

    def on_mount(self) -> None:
        self._clock = self.set_interval(1.0, self._tick, pause=not self.manager.active)
        if self.selected is not None:
            self.query_one("#runs", ListView).index = self.manager.runs.index(self.selected)
            self.show_run(self.selected)
        else:
            self.query_one("#run-title", Static).update("no runs yet: type a task below")
            self.query_one("#new-task", Input).focus()

    # -- showing ------------------------------------------------------------------------

    def show_run(self, run: TaskRun) -> None:
        self.selected, self.outcome, self._discarding = run, "", None
        self.transcript.clear()
        records: list[Record] = []
        self.builder = TranscriptBuilder(self.transcript.add, self.transcript.update_record)
        replay = TranscriptBuilder(records.append, lambda r: None)
        for event in run.events:
            replay.event(event)
        self.builder.tools, self.builder.step = replay.tools, replay.step
        self.transcript.add_many(records)
        self._title()

    def _title(self) -> None:
        run = self.selected
        if run is None:
            return
        text = Text.assemble(
            (f"#{run.number} ", "bold"), run.task, "\n", (f"session {run.session_id}", "dim")
        )
        if run.worktree is not None:
            text.append(f"\nworktree {run.worktree.path} · branch {run.worktree.branch}",
                        style="dim")
            for note in run.worktree.notes:
                text.append(f"\nnote: {note}", style="dim italic")
        if run.note:
            text.append(f"\nnote: {run.note}", style="dim italic")
        if run.summary:
            text.append(f"\n{run.status}: {run.summary}", style="italic")
        if run.worktree is not None and not run.active and not run.landed:
            text.append("\nv review · a apply to your tree · d discard", style="bold")
        if self.outcome:
            text.append(f"\n{self.outcome}")
        self.query_one("#run-title", Static).update(text)

    def _item(self, run: TaskRun) -> RunItem | None:
        return next((i for i in self.query(RunItem) if i.run is run), None)

    def _tick(self) -> None:
        for item in self.query(RunItem):
            if item.run.active:
                item.sync()
        if not self.manager.active and self._clock is not None:
            self._clock.pause()

    # -- the manager's listener (forwarded by the app) ------------------------------------

    def run_changed(self, run: TaskRun, event: ev.Event | None) -> None:
        item = self._item(run)
        if item is None:
            self.query_one("#runs", ListView).append(RunItem(run))
            if self.selected is None:
                self.query_one("#runs", ListView).index = len(self.manager.runs) - 1
                self.show_run(run)
        elif event is None or isinstance(event, ev.Effort | ev.Usage | ev.Finish):
            item.sync()
        if run.active and self._clock is not None:
            self._clock.resume()
        if run is self.selected:
            if event is not None and self.builder is not None:
                self.builder.event(event)
            if event is None or isinstance(event, ev.Finish):
                self._title()

    # -- intents --------------------------------------------------------------------------

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        item = event.item
        if isinstance(item, RunItem) and item.run is not self.selected:
            self.show_run(item.run)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        task = event.value.strip()
        if not task:
            return
        event.input.value = ""
        run = self.manager.start(task)
        self.run_changed(run, None)
        self.query_one("#runs", ListView).index = len(self.manager.runs) - 1
        self.show_run(run)

    def action_new_task(self) -> None:
        self.query_one("#new-task", Input).focus()

    def action_cancel_run(self) -> None:
        if self.selected is not None and self.manager.cancel(self.selected):
            self.notify(f"stopping run #{self.selected.number}")

    def action_close(self) -> None:
        self.dismiss(None)

    # -- landing a worktree run -------------------------------------------------------------

    def _landable(self) -> TaskRun | None:
        from tools.git.worktrees import WorktreeError

        run = self.selected
        if run is None:
            return None
        try:
            self.manager.check_landable(run)
        except WorktreeError as exc:
            self._say(str(exc), error=True)
            return None
        return run

    def _say(self, text: str, error: bool = False) -> None:
        self.outcome = text
        self._title()
        if error:
            self.notify(text, severity="error")

    def action_review_run(self) -> None:
        from tui.reviewing import ModelReviewer
        from tui.screens.review import ReviewScreen

        run = self._landable()
        if run is None or run.worktree is None:
            return
        reviewer = ModelReviewer(Path(run.worktree.path), self.manager.settings.backend,
                                 self.manager.settings.db_path)
        self.app.push_screen(ReviewScreen(
            Path(run.worktree.path), run.worktree.base, reviewer=reviewer,
            base_label=f"the start of run #{run.number}",
            on_apply=lambda chosen: self._apply(run, chosen)))

    async def action_apply_run(self) -> None:
        run = self._landable()
        if run is not None:
            await self._apply(run, None)

    async def _apply(self, run: TaskRun, chosen: Chosen | None) -> tuple[bool, str]:
        """Apply the run (or the chosen hunks); (whether it did, what happened)."""
        from tools.git.apply import ApplyConflict

        try:
            result = await asyncio.to_thread(self.manager.apply, run, chosen)
        except ApplyConflict as exc:
            files = "; ".join(f"{path}: {' '.join(why) or 'conflict'}"
                              for path, why in exc.files.items())
            self._say(f"nothing applied: conflicts with your tree in {files}", error=True)
            return False, self.outcome
        except Exception as exc:  # git and worktree errors are for the reader
            self._say(f"cannot apply: {exc}", error=True)
            return False, self.outcome
        changed = [*result.written, *result.removed]
        self._say(f"applied run #{run.number} to your tree ({len(changed)} file(s): "
                  f"{', '.join(changed[:5])}); `tessera undo` reverts it" if changed else
                  f"run #{run.number}: your tree already had its changes")
        self._sync(run)
        return True, self.outcome

    async def action_discard_run(self) -> None:
        run = self._landable()
        if run is None:
            return
        if self._discarding is not run:
            self._discarding = run
            self._say(f"d again discards run #{run.number}: its worktree and branch are "
                      "removed, its changes lost")
            return
        self._discarding = None
        try:
            await asyncio.to_thread(self.manager.discard, run)
        except Exception as exc:
            self._say(f"cannot discard: {exc}", error=True)
            return
        self._say(f"discarded run #{run.number}")
        self._sync(run)

    def _sync(self, run: TaskRun) -> None:
        item = self._item(run)
        if item is not None:
            item.sync()
