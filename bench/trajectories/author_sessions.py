"""Writes the session trajectories (session_*.jsonl + .setup.json) of the effort benches.

A session is two or three of the ledger tasks (author_ledger.py: fix a failing test, add
a feature, investigate a crash) done one after the other on the same repository, as a
user would in one session: after the model answers, the user compacts the history
(`/compact`; the model writes the summary below) and sends the next task as a new
request. Eight orderings give eight sessions of 20 to 35 steps, with failing commands,
retries after them, a compaction and a new request in the middle.

Each line carries `hard`: the author's mark of a step that must be thought through: the
first step of a request (planning) and a step that follows a failed command, failing
tests or a malformed call (diagnosis). The script finds those by running the session
once through the real loop and the real tools (replay, effort high), exactly as the
benches do. Compaction summaries carry `summary`. Rerun after editing:

    python bench/trajectories/author_sessions.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(OUT.parents[1]))

from agent import events as ev  # noqa: E402
from agent.context import build_system_context  # noqa: E402
from agent.effort import EffortPolicy  # noqa: E402
from agent.replay import ReplayBackend, load_turns  # noqa: E402
from bench.effort_bench import bench_loop, drive, load_setup, make_repo  # noqa: E402

TASKS = ("fix_failing_test", "add_feature", "investigate_crash")
SUMMARIES = {
    "fix_failing_test": (
        "Task 1 (done): the suite failed in test_one_decimal_means_tenths because "
        "ledger/money.py padded a one-digit fraction on the left (rjust). Fixed to ljust; all "
        "tests pass and `ledger balance data/sample.csv` shows correct cents."),
    "add_feature": (
        "Task 1 (done): `ledger balance` has `--format table|csv` (ledger/report.py "
        "balance_csv, ledger/cli.py option), a test_csv test in tests/test_report.py and a "
        "README line; the suite passes."),
    "investigate_crash": (
        "Task 1 (done): `ledger balance data/q1.csv` crashed on a UTF-8 BOM in the header; "
        "ledger/accounts.py now opens CSV files with encoding='utf-8-sig', a regression test "
        "was added to tests/test_accounts.py, and the suite passes."),
}
ORDERS = [
    ("fix_failing_test", "add_feature"),
    ("add_feature", "fix_failing_test"),
    ("fix_failing_test", "investigate_crash"),
    ("investigate_crash", "fix_failing_test"),
    ("add_feature", "investigate_crash"),
    ("investigate_crash", "add_feature"),
    ("fix_failing_test", "add_feature", "investigate_crash"),
    ("investigate_crash", "fix_failing_test", "add_feature"),
]


def compose(order: tuple[str, ...]) -> tuple[list[dict], dict]:
    """The turns (each {"raw", "task"} or a summary) and the merged setup."""
    turns: list[dict] = []
    setup: dict = {"repo": "ledger", "replace": [], "files": {}, "follow_ups": []}
    for position, name in enumerate(order):
        part = load_setup(OUT / f"{name}.jsonl")
        setup["replace"] += part.get("replace", [])
        setup["files"].update(part.get("files", {}))
        if position == 0:
            setup["task"] = part["task"]
        else:
            summary = "Summary so far. " + " ".join(SUMMARIES[n] for n in order[:position])
            turns.append({"raw": summary, "summary": True})
            setup["follow_ups"].append({"compact": True, "message": part["task"]})
        turns += [{"raw": t.raw} for t in load_turns(OUT / f"{name}.jsonl")]
    return turns, setup


def mark_hard(path: Path, turns: list[dict], setup: dict) -> None:
    """Run the session once and mark the steps that plan or follow a failure."""
    events: list[ev.Event] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo, task = make_repo(Path(tmp), path)
        system = build_system_context(repo, repo, repo_map_tokens=1024).prompt
        backend = ReplayBackend(load_turns(path), str(path))
        loop = bench_loop(backend, repo, EffortPolicy("high"), events.append)
        start = ev.SessionStart("author", task, str(repo), "replay", "high", "auto", system)
        finish = asyncio.run(drive(loop, start, setup))
    if finish.status != "done":
        raise SystemExit(f"{path.name}: the session ended {finish.status}: {finish.summary}")
    step_turns = [i for i, t in enumerate(turns) if not t.get("summary")]
    failed_steps = {e.step for e in events if isinstance(e, ev.ToolResult) and not e.ok}
    request_steps = {1} | {e.step + 1 for e in events if isinstance(e, ev.Compaction)}
    for step, index in enumerate(step_turns, 1):
        turns[index]["hard"] = step in request_steps or (step - 1) in failed_steps


def main() -> int:
    for order in ORDERS:
        name = "session_" + "_then_".join(n.split("_")[0] for n in order)
        path = OUT / f"{name}.jsonl"
        turns, setup = compose(order)
        path.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in turns))
        (OUT / f"{name}.setup.json").write_text(json.dumps(setup, indent=1) + "\n")
        mark_hard(path, turns, setup)
        path.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in turns))
        steps = sum(not t.get("summary") for t in turns)
        print(f"{name}: {steps} steps, {sum(t.get('hard', False) for t in turns)} hard")
    return 0


if __name__ == "__main__":
    sys.exit(main())
