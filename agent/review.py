"""`tessera review`: the model reviews the working tree's diff against a base.

The diff (untracked files included, tools/git/diffs.py) goes to the model with a line
number on every new-side line, through the same loop as any task, with read-only tools
(so it may read more of a file or grep for callers) and high effort. Its final answer
must end in a JSON block of findings, which are read and checked against the diff
(agent/review_findings.py). Events: the loop's own, then one `finding` event per valid
finding, a non-fatal `error` per rejected one, and `finish` (its summary counts them).

It is a session like any other, driven by the session driver with the review profile
(agent/session_driver.py): stored, and its events handed to a consumer. Front ends call
`review(repo, base, backend)` for the findings, or `run_review(...)` with a consumer to
watch the events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent import events as ev
from agent.backend import Backend
from agent.review_findings import (
    DiffIndex,
    Finding,
    NoFindingsBlock,
    extract_findings_json,
    validate_findings,
)
from agent.session_driver import Profile, SessionDriver, SessionOptions
from tools.base import SideEffect, Tool
from tools.git.patch import FileDiff

DIFF_CHAR_LIMIT = 60_000  # beyond this, files are only listed; the model can read them

REVIEW_INSTRUCTIONS = """\
Review the changes below (the working tree against {base}). Look for bugs, broken edge \
cases, missing error handling, security problems, and tests that do not test what they \
claim; mention style only when it hides a bug. You may read files or search the \
repository to check a suspicion; do not change anything.

New-side lines are numbered (`  12 + text`); removed lines have no number. Refer to a \
line by its number in the new file (for a deleted file, the old file). When you are done, \
answer with a short overall assessment followed by exactly one JSON block:

```json
{{"findings": [{{"file": "path/in/repo.py", "line": 12, "severity": "error", \
"message": "what is wrong and why", "suggestion": "replacement text for that line, or null"}}]}}
```

severity: "error" (a bug or a security problem: must be fixed), "warning" (likely a \
problem), "info" (worth knowing). An empty list means you found nothing.

{diff}"""


@dataclass
class ReviewReport:
    status: str  # the finish status: done, budget, stuck, error, cancelled
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # rejected findings, unreadable answer
    # Rejected findings the model itself called "error" (a real bug at a wrong line, say).
    rejected_errors: int = 0
    answer: str = ""  # the model's final text
    files: int = 0  # files in the diff

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")


def collect_diff(repo: Path, base: str = "HEAD") -> list[FileDiff]:
    """The working tree (untracked files included) against `base`."""
    from tools.git.diffs import diff_worktree_vs_base
    from tools.git.repo import open_repo

    return diff_worktree_vs_base(open_repo(repo), base)


def format_diff(diffs: list[FileDiff], limit: int = DIFF_CHAR_LIMIT) -> str:
    parts: list[str] = []
    used = 0
    left_out: list[str] = []
    for diff in diffs:
        text = _format_file(diff)
        if used + len(text) > limit and parts:
            left_out.append(diff.path)
            continue
        parts.append(text)
        used += len(text)
    if left_out:
        parts.append("Diff not shown (too long; read these files if they matter):\n"
                     + "\n".join(f"- {p}" for p in left_out))
    return "\n".join(parts)


def _format_file(diff: FileDiff) -> str:
    renamed = f" (renamed from {diff.old_path})" if diff.old_path else ""
    lines = [f"### {diff.path}: {diff.status}{renamed}"]
    if diff.binary:
        lines.append("(binary file)")
    deleted = diff.status == "deleted"
    for hunk in diff.hunks:
        lines.append(hunk.header)
        old, new = hunk.old_start, hunk.new_start
        for kind, text in hunk.lines:
            if kind == "-":
                number = f"{old:>5}" if deleted else "     "
                old += 1
            else:
                number = f"{new:>5}"
                new += 1
                if kind == " ":
                    old += 1
            lines.append(f"{number} {kind} {text}")
    return "\n".join(lines) + "\n"


def review_task(diffs: list[FileDiff], base: str) -> str:
    return REVIEW_INSTRUCTIONS.format(base=base, diff=format_diff(diffs))


def read_only_tools(tools: list[Tool]) -> list[Tool]:
    return [t for t in tools if t.side_effect is SideEffect.READ]


@dataclass
class _ReviewCloser:
    """Ends the review's run: the findings are known only once the loop has finished,
    so its `finish` is replaced by the findings and a `finish` that counts them."""

    index: DiffIndex
    files: int
    report: ReviewReport | None = None

    def close(self, finish: ev.Finish) -> list[ev.Event]:
        report = ReviewReport(finish.status, answer=finish.summary, files=self.files)
        if finish.status == "done":
            _read_findings(report, self.index)
        self.report = report
        return [
            *(ev.Finding(f.file, f.line, f.severity, f.message, f.suggestion, f.in_hunk)
              for f in report.findings),
            *(ev.Error(f"review: {problem}", step=finish.steps) for problem in report.problems),
            ev.Finish(report.status, _summary(report, finish), finish.steps),
        ]


def review_profile(close_run: Callable[[ev.Finish], list[ev.Event]] | None = None) -> Profile:
    """Read-only tools and policy, high effort, no checkpoints or compaction."""
    return Profile("review", tools=read_only_tools, approval="read-only", effort="high",
                   checkpoints=False, compaction=False, close_run=close_run)


async def run_review(
    repo: Path,
    base: str,
    backend: Backend | str | None = None,
    on_event: Callable[[ev.Event], None] | None = None,
    *,
    max_steps: int = 20,
    repo_map_tokens: int = 0,
    workdir: Path | None = None,
    db_path: Path | None = None,
    on_delta: Callable | None = None,
) -> ReviewReport:
    """Review the diff against `base` as a stored session, handing every event to
    `on_event`; `finish` comes last. `backend` is a ready backend, a spec, or None for
    the configured one. Raises SessionSetupError (agent/session_driver.py) when the
    session cannot start, and tools.git's errors for a bad repository or base."""
    repo = repo.resolve()
    diffs = collect_diff(repo, base)
    closer = _ReviewCloser(DiffIndex(repo, diffs), len(diffs))
    options = SessionOptions(repo, backend=backend if isinstance(backend, str) else None,
                             max_steps=max_steps, repo_map_tokens=repo_map_tokens,
                             workdir=workdir, db_path=db_path)
    driver = SessionDriver(options, review_profile(closer.close), on_delta=on_delta,
                           backend=None if isinstance(backend, str) else backend)
    if on_event is not None:
        driver.subscribe(on_event)
    try:
        task = review_task(diffs, base)
        if not diffs:
            await driver.finish_without_model(task, f"nothing to review: no changes against {base}")
            return ReviewReport("done")
        await driver.start(task)
    finally:
        driver.close()
    assert closer.report is not None
    return closer.report


def _read_findings(report: ReviewReport, index: DiffIndex) -> None:
    try:
        raw = extract_findings_json(report.answer)
    except NoFindingsBlock as exc:
        report.status = "error"
        report.problems.append(str(exc))
        return
    report.findings, report.problems = validate_findings(raw, index)
    said_error = sum(1 for item in raw if isinstance(item, dict)
                     and str(item.get("severity", "")).lower() == "error")
    report.rejected_errors = said_error - report.errors


def _summary(report: ReviewReport, finish: ev.Finish) -> str:
    if finish.status != "done":
        return finish.summary
    if report.status == "error":
        return f"the review could not be read: {report.problems[0]}"
    counts = {s: sum(1 for f in report.findings if f.severity == s)
              for s in ("error", "warning", "info")}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    rejected = f"; {len(report.problems)} rejected" if report.problems else ""
    return (f"{len(report.findings)} finding(s) in {report.files} file(s)"
            + (f": {shown}" if shown else "") + rejected)


async def review(repo: Path, base: str, backend: Backend) -> list[Finding]:
    """The findings of a review of `repo`'s working tree against `base`.

    Raises ReviewFailed when the review could not be completed or read."""
    report = await run_review(repo, base, backend)
    if report.status != "done":
        raise ReviewFailed(report.status, report.problems or [report.answer])
    return report.findings


class ReviewFailed(Exception):
    def __init__(self, status: str, problems: list[str]):
        super().__init__(f"review ended with {status}: {'; '.join(problems)}")
        self.status = status
        self.problems = problems
