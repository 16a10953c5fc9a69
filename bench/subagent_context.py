"""The parent's context with and without delegating exploration to a subagent.

One recorded task (bench/trajectories/investigate_crash: a CSV loader crashes on a file
with a byte order mark) is replayed twice through the session driver, the real tools and
the replay backend, in the same repository:

- alone: the parent reproduces the crash, inspects the file, reads the loader and
  confirms the cause itself (13 turns), then fixes, tests and checks;
- delegated (bench/trajectories/subagents/investigate_crash_delegated.jsonl): the
  parent's first call is `task`, whose child makes those same exploring turns in its own
  context and reports the cause with the lines to change; the parent then makes the same
  fix, test and check turns as in the first run.

Token counts are the model's tokenizer's, through the replay backend's usage (prompt
tokens = the request's count; cached = the part shared with the previous request of the
same client; effort is fixed at `high`, so no effort switch makes a re-read). Printed
per run: the parent's prompt tokens at its last step (its context), summed over its
steps, and its uncached prefill; the child's; and the engine work of all (uncached
prompt + generated: a child pays for its own system prompt). Both runs must end `done`
with the repository's tests passing, so the two are the same fix.

    .venv/bin/python bench/subagent_context.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import events as ev
from agent.session_driver import SessionDriver, SessionOptions
from bench.effort_bench import TRAJECTORIES, make_repo

ALONE = TRAJECTORIES / "investigate_crash.jsonl"
DELEGATED = TRAJECTORIES / "subagents" / "investigate_crash_delegated.jsonl"


def usage_figures(usage: list[ev.Usage]) -> dict[str, int]:
    return {
        "steps": len(usage),
        "last_prompt": usage[-1].prompt_tokens if usage else 0,
        "prompt_sum": sum(u.prompt_tokens for u in usage),
        "prefill": sum(u.prompt_tokens - u.cached_prompt_tokens for u in usage),
        "generated": sum(u.completion_tokens for u in usage),
    }


def run(trajectory: Path, root: Path) -> dict[str, dict[str, int]]:
    repo, task = make_repo(root, ALONE)  # the same task and repository for both runs
    events: list[ev.Event] = []
    driver = SessionDriver(SessionOptions(repo, backend=f"replay:{trajectory}",
                                          approval="auto", max_steps=100, verify=False,
                                          effort="high",  # no switch re-reads in the counts
                                          db_path=root / "sessions.db"))
    driver.subscribe(events.append)
    try:
        finish = asyncio.run(driver.start(task))
    finally:
        driver.close()
    tests = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "tests",
                            "-t", "."], cwd=repo, capture_output=True, text=True)
    if finish.status != "done" or tests.returncode != 0:
        raise SystemExit(f"{trajectory.name}: {finish.status}: {finish.summary}\n{tests.stderr}")
    child = [e.inner() for e in events if isinstance(e, ev.Subagent)]
    return {
        "parent": usage_figures([e for e in events if isinstance(e, ev.Usage)]),
        "child": usage_figures([e for e in child if isinstance(e, ev.Usage)]),
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TESSERA_HOME"] = str(Path(tmp) / "home")  # no trace in the user's store
        figures = {name: run(path, Path(tmp) / name)
                   for name, path in (("alone", ALONE), ("delegated", DELEGATED))}
    print(f"task: {ALONE.stem} (replayed; tokens: the model's tokenizer)")
    header = (f"{'run':<11}{'who':<8}{'steps':>6}{'context at last step':>22}"
              f"{'prompt, all steps':>19}{'prefill':>9}{'generated':>11}")
    print(header)
    for name, by_who in figures.items():
        for who, f in by_who.items():
            if f["steps"]:
                print(f"{name:<11}{who:<8}{f['steps']:>6}{f['last_prompt']:>22,}"
                      f"{f['prompt_sum']:>19,}{f['prefill']:>9,}{f['generated']:>11,}")
    alone, delegated = figures["alone"]["parent"], figures["delegated"]["parent"]
    work = {name: sum(f["prefill"] + f["generated"] for f in by_who.values())
            for name, by_who in figures.items()}
    print(f"parent context at its last step: {alone['last_prompt']:,} alone, "
          f"{delegated['last_prompt']:,} delegated "
          f"({delegated['last_prompt'] / alone['last_prompt']:.2f}x)")
    print(f"parent prompt tokens over all its steps: {alone['prompt_sum']:,} alone, "
          f"{delegated['prompt_sum']:,} delegated "
          f"({delegated['prompt_sum'] / alone['prompt_sum']:.2f}x)")
    print(f"engine work, parent and child (uncached prompt + generated): {work['alone']:,} "
          f"alone, {work['delegated']:,} delegated ({work['delegated'] / work['alone']:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
