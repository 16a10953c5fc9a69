"""The review screen: changed files on the left, their hunks on the right; keep or revert
each hunk. A revert takes a checkpoint first (tools.git.diffs.revert_hunk), so `u` (or
`tessera undo`) brings it back. Keyboard first: n/p move between hunks, y keeps, r
reverts, u undoes the last revert, s switches unified/side by side, Esc goes back.

With a reviewer (tui/reviewing.ModelReviewer), m asks the model to review the diff: its
findings appear under the lines they name, with their severity; ] and [ jump between
them, and f (ask the model to fix the hunk) passes the hunk's findings along.

For an autonomous run in its own worktree (the tasks screen's v), the diff is the run's
against the point it started from, a reverted hunk is reverted in the run's worktree,
and a applies the hunks you kept to your tree (A: every hunk left), through `on_apply`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, ListItem, ListView, Static

from agent import events as ev
from agent.review_findings import Finding
from tools.git.patch import FileDiff, Hunk
from tui.reviewing import (
    SEVERITY_MARK,
    SEVERITY_ORDER,
    SEVERITY_STYLE,
    ModelReviewer,
    ReviewSetupError,
    describe,
    findings_of_hunk,
    findings_outside_hunks,
    placement,
    summary,
)
from tui.styles import STYLES
from tui.widgets.diff import render_hunk_lines, side_by_side

STATUS_LETTER = {"added": "A", "modified": "M", "deleted": "D", "renamed": "R"}


def hunk_key(file_diff: FileDiff, hunk: Hunk) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Identifies a hunk across reloads (its line numbers move when others are reverted)."""
    return file_diff.path, tuple(hunk.lines)


def fix_request(file_diff: FileDiff, hunk: Hunk, findings: list[Finding] | None = None) -> str:
    """The chat message for "ask the model to fix this hunk", with the review's findings
    about it when there are some."""
    lines = "\n".join(f"{kind}{text}" for kind, text in hunk.lines)
    diff = f"```diff\n{hunk.header}\n{lines}\n```"
    if findings:
        found = "\n".join(describe(f) for f in findings)
        return (
            f"A review of this change in {file_diff.path} found:\n{found}\n\n"
            f"Fix these problems (keep the rest of the file as it is):\n\n{diff}"
        )
    return (
        f"Review this change in {file_diff.path} and fix what is wrong with it "
        f"(keep the rest of the file as it is):\n\n{diff}"
    )


def finding_text(finding: Finding, indent: str = "  ") -> Text:
    style = SEVERITY_STYLE[finding.severity]
    text = Text.assemble(
        indent,
        (f"{SEVERITY_MARK[finding.severity]} {finding.severity}", style),
        (f" line {finding.line}: ", "dim"),
        finding.message,
    )
    if finding.suggestion:
        text.append_text(Text.assemble(("\n" + indent + "  suggestion: ", "dim"),
                                       (finding.suggestion, "italic")))
    return text


class HunkView(Static):
    def __init__(
        self,
        file_diff: FileDiff,
        hunk: Hunk,
        verdict: str | None,
        side: bool,
        findings: list[Finding] | None = None,
    ) -> None:
        super().__init__(classes="hunk")
        self.file_diff = file_diff
        self.hunk = hunk
        self.verdict = verdict
        self.side = side
        self.findings = findings or []  # the review's findings, all files
        self.sync()

    @property
    def own_findings(self) -> list[Finding]:
        return findings_of_hunk(self.file_diff, self.hunk, self.findings)

    def sync(self) -> None:
        mark = {"kept": ("✓ kept", "green"), "reverted": ("↺ reverted", "yellow")}.get(
            self.verdict or "", ("", "")
        )
        header = Text.assemble((self.hunk.header, "cyan"), "  ", (mark[0], f"bold {mark[1]}"))
        own = self.own_findings
        if own:
            worst = min(own, key=lambda f: SEVERITY_ORDER[f.severity])
            header.append(f"  {len(own)} finding(s)", style=SEVERITY_STYLE[worst.severity])
        if self.side:
            body = side_by_side(self.hunk.lines, self.file_diff.path)
            self.update(Group(header, body, *(finding_text(f) for f in own)))
            return
        self.update(Group(header, self._unified_with_findings()))

    def _unified_with_findings(self) -> Text:
        body = render_hunk_lines(self.hunk.lines, self.file_diff.path)
        placed = placement(self.file_diff, self.hunk, self.findings)
        if not placed:
            return body
        rows = list(body.split("\n", allow_blank=True))
        out = Text()
        for index, row in enumerate(rows):
            if index:
                out.append("\n")
            out.append_text(row)
            # The last row also takes those of trailing blank lines the rendering trimmed.
            last = index == len(rows) - 1
            for key in sorted(k for k in placed if k == index or (last and k > index)):
                for finding in placed[key]:
                    out.append("\n")
                    out.append_text(finding_text(finding))
        return out


class FileItem(ListItem):
    def __init__(self, file_diff: FileDiff, findings: list[Finding] | None = None) -> None:
        self.file_diff = file_diff
        letter = STATUS_LETTER.get(file_diff.status, "?")
        label = Text.assemble(
            (f"{letter} ", "bold"),
            file_diff.path,
            " ",
            (f"+{file_diff.added_lines}", "green"),
            " ",
            (f"-{file_diff.removed_lines}", "red"),
        )
        own = [f for f in findings or [] if f.file == file_diff.path]
        if own:
            worst = min(own, key=lambda f: SEVERITY_ORDER[f.severity])
            label.append(f" {SEVERITY_MARK[worst.severity]}{len(own)}",
                         style=SEVERITY_STYLE[worst.severity])
        super().__init__(Static(label))


class ReviewScreen(Screen):
    CSS_PATH = STYLES / "review.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n,j", "move(1)", "Next"),
        Binding("p,k", "move(-1)", "Prev"),
        Binding("y", "keep", "Keep"),
        Binding("r", "revert", "Revert"),
        Binding("u", "undo", "Undo"),
        Binding("s", "toggle_side", "Split"),
        Binding("m", "model_review", "Model review"),
        Binding("right_square_bracket", "jump(1)", "Finding"),
        Binding("left_square_bracket", "jump(-1)", "Previous finding", show=False),
        Binding("f", "ask_fix", "Fix it"),
        Binding("a", "apply(True)", "Apply kept"),
        Binding("A", "apply(False)", "Apply all"),
        Binding("escape,q", "close", "Back"),
    ]

    def __init__(
        self,
        repo: Path,
        base: str = "HEAD",
        ask_model: Callable[[str], object] | None = None,
        reviewer: ModelReviewer | None = None,
        findings: list[Finding] | None = None,
        on_findings: Callable[[list[Finding]], object] | None = None,
        base_label: str | None = None,
        on_apply: Callable[[list[tuple[FileDiff, Hunk | None]] | None],
                           Awaitable[tuple[bool, str]]] | None = None,
    ) -> None:
        super().__init__()
        self.repo_path = repo
        self.base = base
        self.base_label = base_label or base  # how the messages name the base
        # Applies the chosen hunks (None: all) to the user's tree: (applied, what happened).
        self.on_apply = on_apply
        self.ask_model = ask_model  # sends a message to the chat; None outside a chat
        self.reviewer = reviewer  # runs the model's review; None: no model to ask
        self.findings: list[Finding] = list(findings or [])  # an earlier review's, if any
        self.on_findings = on_findings  # the chat keeps them for the next /review
        self.current_finding = -1
        self.reviewing = False
        self.files: list[FileDiff] = []
        self.verdicts: dict[tuple, str] = {}
        self.current_file = 0
        self.current_hunk = 0
        self.side = False
        self.undo_stack: list[str] = []  # checkpoint ids taken before each revert
        self.message = Static("loading the diff…", id="review-message")

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield ListView(id="files")
            yield VerticalScroll(id="hunks")
        yield self.message
        yield Footer()

    async def on_mount(self) -> None:
        await self.reload()

    # -- loading ----------------------------------------------------------------------

    def _diff(self) -> list[FileDiff]:
        from tools.git.diffs import diff_worktree_vs_base
        from tools.git.repo import open_repo

        return diff_worktree_vs_base(open_repo(self.repo_path), self.base)

    async def reload(self) -> None:
        try:
            self.files = await asyncio.to_thread(self._diff)
        except Exception as exc:  # not a git repository, git failures: show, do not crash
            self.files = []
            self.say(f"cannot diff: {exc}", error=True)
            return
        files = self.query_one("#files", ListView)
        await files.clear()
        await files.extend([FileItem(f, self.findings) for f in self.files])
        if not self.files:
            await self.query_one("#hunks", VerticalScroll).remove_children()
            self.say(f"no changes against {self.base_label}")
            return
        self.current_file = min(self.current_file, len(self.files) - 1)
        files.index = self.current_file
        await self.show_file(self.current_file)
        kept = sum(1 for v in self.verdicts.values() if v == "kept")
        found = f"; {len(self.findings)} finding(s) of the model's review" if self.findings else ""
        self.say(f"{len(self.files)} changed file(s) against {self.base_label}; {kept} hunk(s) kept"
                 + found)

    async def show_file(self, index: int) -> None:
        self.current_file = index
        file_diff = self.files[index]
        pane = self.query_one("#hunks", VerticalScroll)
        await pane.remove_children()
        views = [
            HunkView(
                file_diff, h, self.verdicts.get(hunk_key(file_diff, h)), self.side, self.findings
            )
            for h in file_diff.hunks
        ]
        title = Text.assemble(
            (file_diff.path, "bold"),
            f"  {file_diff.status}",
            (f"  (from {file_diff.old_path})" if file_diff.old_path else "", "dim"),
            (f"  {len(views)} hunk(s)", "dim"),
        )
        await pane.mount(Static(title, classes="file-title"))
        outside = findings_outside_hunks(file_diff, self.findings)
        if outside:
            lines = [Text("findings outside the changed hunks:", style="dim")]
            lines += [finding_text(f) for f in outside]
            await pane.mount(Static(Group(*lines), classes="file-findings"))
        if not views:
            note = "binary file" if file_diff.binary else f"{file_diff.status}, no text hunks"
            await pane.mount(Static(Text(note, style="dim")))
        await pane.mount_all(views)
        self.current_hunk = min(self.current_hunk, max(0, len(views) - 1))
        self._highlight()

    def say(self, text: str, error: bool = False) -> None:
        self.message.update(Text(text, style="bold red" if error else ""))

    # -- moving -------------------------------------------------------------------------

    def _views(self) -> list[HunkView]:
        return list(self.query(HunkView))

    def _highlight(self) -> None:
        views = self._views()
        for i, view in enumerate(views):
            view.set_class(i == self.current_hunk, "-current")
        if views:
            views[self.current_hunk].scroll_visible(animate=False)

    async def on_list_view_selected(self, event: ListView.Selected) -> None:
        if event.list_view.index is not None and event.list_view.index != self.current_file:
            self.current_hunk = 0
            await self.show_file(event.list_view.index)

    async def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        index = event.list_view.index
        if index is not None and index != self.current_file and index < len(self.files):
            self.current_hunk = 0
            await self.show_file(index)

    async def action_move(self, step: int) -> None:
        views = self._views()
        target = self.current_hunk + step
        if 0 <= target < len(views):
            self.current_hunk = target
            self._highlight()
            return
        next_file = self.current_file + (1 if step > 0 else -1)
        if 0 <= next_file < len(self.files):
            self.current_hunk = 0 if step > 0 else 10**6
            self.query_one("#files", ListView).index = next_file
            await self.show_file(next_file)

    def _current(self) -> tuple[FileDiff, Hunk] | None:
        if not self.files:
            return None
        file_diff = self.files[self.current_file]
        if not file_diff.hunks:
            return None
        return file_diff, file_diff.hunks[self.current_hunk]

    # -- deciding -----------------------------------------------------------------------

    async def action_keep(self) -> None:
        current = self._current()
        if current is None:
            return
        self.verdicts[hunk_key(*current)] = "kept"
        self._views()[self.current_hunk].verdict = "kept"
        self._views()[self.current_hunk].sync()
        await self.action_move(1)

    async def action_revert(self) -> None:
        current = self._current()
        if current is None:
            return
        from tools.git.diffs import revert_hunk
        from tools.git.repo import open_repo

        file_diff, hunk = current
        try:
            checkpoint = await asyncio.to_thread(
                lambda: revert_hunk(open_repo(self.repo_path), file_diff, hunk)
            )
        except Exception as exc:  # HunkMismatch and git errors are for the reader
            self.say(f"cannot revert: {exc}", error=True)
            return
        self.undo_stack.append(checkpoint.id)
        await self.reload()
        self.say(
            f"reverted a hunk of {file_diff.path}; checkpoint {checkpoint.id} was taken "
            "first — u undoes the revert"
        )

    async def action_undo(self) -> None:
        if not self.undo_stack:
            self.say("no revert to undo in this review")
            return
        from tools.git.checkpoints import restore_checkpoint
        from tools.git.repo import open_repo

        checkpoint_id = self.undo_stack.pop()
        try:
            await asyncio.to_thread(
                lambda: restore_checkpoint(open_repo(self.repo_path), checkpoint_id)
            )
        except Exception as exc:
            self.say(f"cannot undo: {exc}", error=True)
            return
        await self.reload()
        self.say(f"undid the revert: the files are back as they were at {checkpoint_id}")

    def action_ask_fix(self) -> None:
        current = self._current()
        if current is None:
            return
        if self.ask_model is None:
            self.say("asking the model needs a chat: open this review with /review in `tessera`")
            return
        file_diff, hunk = current
        self.ask_model(fix_request(file_diff, hunk, findings_of_hunk(file_diff, hunk,
                                                                     self.findings)))
        self.dismiss(None)

    # -- the model's review -------------------------------------------------------------

    def action_model_review(self) -> None:
        if self.reviewer is None:
            self.say("a model review needs a backend: open this review with /review in "
                     "`tessera`, or run `tessera review` for the findings as text")
            return
        if self.reviewing:
            self.say("the model is already reviewing this diff")
            return
        if not self.files:
            self.say(f"nothing to review: no changes against {self.base_label}")
            return
        self.reviewing = True
        self.say("the model is reviewing the diff…")
        self._review_worker()

    @work(exclusive=True, group="model-review", exit_on_error=False)
    async def _review_worker(self) -> None:
        assert self.reviewer is not None
        try:
            report = await self.reviewer.review(self.base, self._review_event)
        except ReviewSetupError as exc:
            self.say(f"cannot start the model's review: {exc}", error=True)
            return
        except Exception as exc:  # git or backend failures: for the reader, not a crash
            self.say(f"the model's review failed: {exc}", error=True)
            return
        finally:
            self.reviewing = False
        await self.show_findings(report.findings)
        if self.on_findings is not None:
            self.on_findings(self.findings)
        self.say(summary(report), error=report.status != "done")

    def _review_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Effort):
            self.say(f"the model is reviewing the diff… step {event.step}")
        elif isinstance(event, ev.ToolCall):
            self.say(f"the model is reviewing the diff… step {event.step}: {event.name}")

    async def show_findings(self, findings: list[Finding]) -> None:
        """Show `findings` at their lines (replacing any earlier ones)."""
        order = {f.path: i for i, f in enumerate(self.files)}
        self.findings = sorted(findings, key=lambda f: (order.get(f.file, len(order)), f.line))
        self.current_finding = -1
        await self.reload()

    async def action_jump(self, step: int) -> None:
        """Move to the next (or previous) finding: its file, and the hunk holding it."""
        if not self.findings:
            self.say("no findings to jump to" + ("" if self.reviewer is None
                                                 else "; m asks the model to review"))
            return
        self.current_finding = (self.current_finding + step) % len(self.findings)
        finding = self.findings[self.current_finding]
        index = next((i for i, f in enumerate(self.files) if f.path == finding.file), None)
        if index is None:
            self.say(f"{finding.file} is no longer changed")
            return
        file_diff = self.files[index]
        holders = [i for i, h in enumerate(file_diff.hunks)
                   if finding in findings_of_hunk(file_diff, h, self.findings)]
        self.current_hunk = holders[0] if holders else 0
        if index != self.current_file:
            self.query_one("#files", ListView).index = index
        await self.show_file(index)
        self.say(f"finding {self.current_finding + 1}/{len(self.findings)}: "
                 f"{finding.severity} {finding.file}:{finding.line}: {finding.message}")

    def action_close(self) -> None:
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.on_apply is not None if action == "apply" else True

    def kept_hunks(self) -> list[tuple[FileDiff, Hunk | None]]:
        return [(f, h) for f in self.files for h in f.hunks
                if self.verdicts.get(hunk_key(f, h)) == "kept"]

    async def action_apply(self, kept_only: bool) -> None:
        """Apply the kept hunks (or, `kept_only` false, all that are left) to the user's tree."""
        if self.on_apply is None:
            return
        chosen = self.kept_hunks() if kept_only else None
        if chosen == []:
            self.say("no hunk kept yet: y keeps one (A applies every hunk left)")
            return
        self.say("applying…")
        applied, message = await self.on_apply(chosen)
        if applied:
            self.dismiss(None)
        else:
            self.say(message, error=True)

    async def action_toggle_side(self) -> None:
        self.side = not self.side
        if self.files:
            await self.show_file(self.current_file)
