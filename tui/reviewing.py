"""The model's review of the diff shown in the review screen, and where its findings go.

`ModelReviewer` runs the agent's review (agent/review.run_review, a stored session like
`tessera review`) with the backend the chat uses, and passes its events on.
The placement helpers say which hunk (and which line of it) a finding belongs to. No
Textual import here, so both are tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent import events as ev
from agent.review import ReviewReport
from agent.review_findings import Finding
from tools.git.patch import FileDiff, Hunk

SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}
SEVERITY_MARK = {"error": "✖", "warning": "▲", "info": "●"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


class ReviewSetupError(Exception):
    """The review cannot start (no usable backend or configuration)."""


@dataclass
class ModelReviewer:
    repo: Path
    backend_spec: str | None = None  # None: the configured backend
    db_path: Path | None = None
    max_steps: int = 20
    repo_map_tokens: int = 0  # the diff is the context that matters; keep the prompt small

    async def review(self, base: str, on_event: Callable[[ev.Event], None]) -> ReviewReport:
        """Review the working tree against `base`; every event is stored, then passed on.
        Raises ReviewSetupError when no usable backend or configuration is there."""
        from agent.review import run_review
        from agent.session_driver import SessionSetupError

        try:
            return await run_review(
                self.repo, base, self.backend_spec, on_event, max_steps=self.max_steps,
                repo_map_tokens=self.repo_map_tokens, db_path=self.db_path,
            )
        except SessionSetupError as exc:
            raise ReviewSetupError(str(exc)) from exc


def hunk_range(file_diff: FileDiff, hunk: Hunk) -> range:
    """The lines a finding may point at in this hunk: the new side, the old side for a
    deleted file (as agent/review_findings.DiffIndex checks them)."""
    if file_diff.status == "deleted":
        start, count = hunk.old_start, hunk.old_lines
    else:
        start, count = hunk.new_start, hunk.new_lines
    return range(start, start + max(count, 1))


def findings_of_hunk(file_diff: FileDiff, hunk: Hunk, findings: list[Finding]) -> list[Finding]:
    lines = hunk_range(file_diff, hunk)
    return sorted((f for f in findings if f.file == file_diff.path and f.line in lines),
                  key=lambda f: f.line)


def findings_outside_hunks(file_diff: FileDiff, findings: list[Finding]) -> list[Finding]:
    """The file's findings no hunk holds (`in_hunk` false, or moved by a revert)."""
    inside = {id(f) for h in file_diff.hunks for f in findings_of_hunk(file_diff, h, findings)}
    return sorted((f for f in findings if f.file == file_diff.path and id(f) not in inside),
                  key=lambda f: f.line)


def line_numbers(file_diff: FileDiff, hunk: Hunk) -> list[int | None]:
    """For each line of the hunk, its number on the side findings use (None: not there)."""
    deleted = file_diff.status == "deleted"
    old, new = hunk.old_start, hunk.new_start
    numbers: list[int | None] = []
    for kind, _ in hunk.lines:
        if kind == "-":
            numbers.append(old if deleted else None)
            old += 1
        else:
            numbers.append(new)
            new += 1
            if kind == " ":
                old += 1
    return numbers


def placement(file_diff: FileDiff, hunk: Hunk, findings: list[Finding]) -> dict[int, list[Finding]]:
    """Hunk line index -> the findings shown right after that line. A finding whose line
    has no row of its own (a pure deletion) goes after the hunk's last line."""
    numbers = line_numbers(file_diff, hunk)
    rows = {n: i for i, n in enumerate(numbers) if n is not None}
    placed: dict[int, list[Finding]] = {}
    for finding in findings_of_hunk(file_diff, hunk, findings):
        row = rows.get(finding.line, len(hunk.lines) - 1)
        placed.setdefault(row, []).append(finding)
    return placed


def describe(finding: Finding) -> str:
    """A finding as one paragraph of the fix request."""
    text = f"- line {finding.line} ({finding.severity}): {finding.message}"
    if finding.suggestion:
        text += f"\n  suggested replacement: `{finding.suggestion}`"
    return text


def summary(report: ReviewReport) -> str:
    if report.status != "done":
        why = report.problems[0] if report.problems else report.answer
        return f"the model's review ended with {report.status}: {why}"
    counts = [f"{n} {s}" for s in SEVERITY_ORDER
              if (n := sum(1 for f in report.findings if f.severity == s))]
    found = (f"{len(report.findings)} finding(s): {', '.join(counts)}" if report.findings
             else "no findings")
    rejected = f"; {len(report.problems)} rejected" if report.problems else ""
    jump = " — ] and [ jump between them" if report.findings else ""
    return f"the model's review: {found}{rejected}{jump}"
