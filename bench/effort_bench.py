"""Effort policy on recorded trajectories: generated and prefill tokens per policy.

Each trajectory (a `replay:FILE`, one raw model turn per line, under bench/trajectories/)
is run through the real loop, the real tools and the replay backend three times: always
`high`, always `none`, and the `auto` policy. A trajectory `NAME.jsonl` comes with
`NAME.setup.json` naming its task and its repository (a fixture folder under
bench/trajectories/, with replacements and extra files applied, then committed to git);
without one, the small calc fixture below is used. A setup may list `follow_ups`: after
the model answers, each one optionally compacts the history (`"compact": true`, as the
user's `/compact`: the next turn of the file is the summary) and then sends its
`message` as a new user request. The system prompt is the real one (base prompt,
environment, a 1024-token repository map).

Under `none` the model does not think, so a turn's `[THINK]…[/THINK]` block is dropped
when the request asks for `none`; the actions stay the same. This measures the COST side
only (tokens generated, prompt tokens the engine must prefill because the prefix cache
missed); whether `none` steps act as well as `high` ones needs the real model and is not
measured here.

Token counts are the model's tokenizer's (tekken v15, agent/tokens.py), through the replay
backend's usage: prompt tokens are the request's count; cached tokens the prefix and
whole leading messages shared with the previous request, so an effort switch (encoded
before the first user message) misses the cache for the whole history.

    .venv/bin/python bench/effort_bench.py [TRAJECTORY.jsonl ...] [--verbose]
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import events as ev
from agent.approval import ApprovalPolicy
from agent.backend import Backend, ChatRequest, Delta
from agent.compaction import CompactionSettings
from agent.context import build_system_context
from agent.effort import EffortCosts, EffortPolicy
from agent.loop import AgentLoop, Budgets, LoopSettings
from agent.replay import ReplayBackend, load_turns
from tools.base import ToolContext
from tools.registry import default_tools

HERE = Path(__file__).resolve().parent
TRAJECTORIES = HERE / "trajectories"
THINK_BLOCK = re.compile(r"\[THINK\].*?\[/THINK\]", re.DOTALL)
MODES = ("high", "none", "auto")
FIXTURE = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "check.py": "from calc import add\nassert add(2, 3) == 5, add(2, 3)\nprint('ok')\n",
}


class EffortAwareReplay(ReplayBackend):
    """Replays a trajectory; without effort the recorded thinking is not produced."""

    def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        if request.effort == "none" and self.position < len(self.turns):
            turn = self.turns[self.position]
            turn.raw = THINK_BLOCK.sub("", turn.raw)
        return super().stream(request)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args],
                   cwd=root, check=True, capture_output=True)


def load_setup(trajectory: Path) -> dict:
    """NAME.setup.json beside NAME.jsonl; {} when there is none."""
    setup_file = trajectory.with_name(trajectory.name.removesuffix(".jsonl") + ".setup.json")
    if not setup_file.is_file():
        return {}
    return json.loads(setup_file.read_text(encoding="utf-8"))


def make_repo(root: Path, trajectory: Path) -> tuple[Path, str]:
    """The trajectory's repository, committed; and its task."""
    setup_file = trajectory.with_name(trajectory.name.removesuffix(".jsonl") + ".setup.json")
    repo = root / "repo"
    task = "task"
    if setup_file.is_file():
        setup = load_setup(trajectory)
        shutil.copytree(TRAJECTORIES / setup["repo"], repo)
        for name, old, new in setup.get("replace", []):
            path = repo / name
            text = path.read_text(encoding="utf-8")
            if old not in text:
                raise SystemExit(f"{setup_file}: {old!r} is not in {name}")
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
        for name, text in setup.get("files", {}).items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text, encoding="utf-8")
        task = setup["task"]
    else:
        repo.mkdir()
        for name, text in FIXTURE.items():
            (repo / name).write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "start")
    return repo, task


async def drive(loop: AgentLoop, start: ev.SessionStart, setup: dict) -> ev.Finish:
    """The session a trajectory records: the task, then each follow-up (after an
    optional compaction); the last finish, or the first that was not `done`."""
    finish = await loop.run(start)
    for follow_up in setup.get("follow_ups", []):
        if finish.status != "done":
            break
        if follow_up.get("compact"):
            await loop.compact("user")
        loop.add_user_message(follow_up["message"])
        finish = await loop.continue_run()
    return finish


def bench_loop(backend: Backend, repo: Path, policy: EffortPolicy,
               emit: Callable[[ev.Event], None]) -> AgentLoop:
    """The loop every effort bench runs: the real tools, auto approval, compaction only
    when the trajectory asks for it."""
    return AgentLoop(
        backend,
        LoopSettings(repo=repo, tools=default_tools(), tool_context=ToolContext(repo),
                     approval=ApprovalPolicy("auto"), effort=policy,
                     budgets=Budgets(max_steps=100),
                     compaction=CompactionSettings(context_limit=10_000_000)),
        emit,
    )


def run_one(trajectory: Path, mode: str, verbose: bool = False) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        repo, task = make_repo(Path(tmp), trajectory)
        system = build_system_context(repo, repo, repo_map_tokens=1024).prompt
        emitted: list[ev.Event] = []
        backend = EffortAwareReplay(load_turns(trajectory), str(trajectory))
        loop = bench_loop(backend, repo, EffortPolicy(mode), emitted.append)
        start = ev.SessionStart("bench", task, str(repo), "replay", mode, "auto", system)
        finish = asyncio.run(drive(loop, start, load_setup(trajectory)))
    if verbose:
        for event in emitted:
            if isinstance(event, (ev.ToolResult, ev.Effort, ev.Finish, ev.Error)):
                print("   ", event.to_json()[:400])
    usage = [e for e in emitted if isinstance(e, ev.Usage)]
    efforts = [e for e in emitted if isinstance(e, ev.Effort)]
    results = [e for e in emitted if isinstance(e, ev.ToolResult)]
    return {
        "steps": finish.steps,
        "ok": finish.status == "done",
        "failed_results": sum(not r.ok for r in results),
        "generated": sum(u.completion_tokens for u in usage),
        "prefill": sum(u.prompt_tokens - u.cached_prompt_tokens for u in usage),
        "last_prompt": usage[-1].prompt_tokens if usage else 0,
        "switches": sum(e.switched for e in efforts),
        "high_steps": sum(e.value == "high" for e in efforts),
    }


def main(argv: list[str]) -> int:
    verbose = "--verbose" in argv
    files = [Path(a) for a in argv if a != "--verbose"] or sorted(TRAJECTORIES.glob("*.jsonl"))
    totals = {m: {"generated": 0, "prefill": 0} for m in MODES}
    print(f"{'trajectory':<20}{'policy':<7}{'steps':>6}{'high':>6}{'switch':>7}{'fails':>6}"
          f"{'context':>9}{'generated':>11}{'prefill':>9}  finished")
    for path in files:
        for mode in MODES:
            r = run_one(path, mode, verbose)
            totals[mode]["generated"] += r["generated"]
            totals[mode]["prefill"] += r["prefill"]
            print(f"{path.stem:<20}{mode:<7}{r['steps']:>6}{r['high_steps']:>6}"
                  f"{r['switches']:>7}{r['failed_results']:>6}{r['last_prompt']:>9}"
                  f"{r['generated']:>11}{r['prefill']:>9}  {r['ok']}")
    base = totals["high"]
    weight = EffortCosts().prefill_weight

    def cost(t: dict[str, int]) -> float:
        return t["generated"] + t["prefill"] * weight

    print("\ntotals against always-high (ratio; lower is cheaper), tokens of the v15 tokenizer;"
          f"\ncost = generated + prefill x {weight:g} (the policy's own price of a prefill token):")
    for mode, t in totals.items():
        generated = t["generated"] / base["generated"]
        prefill = t["prefill"] / base["prefill"]
        print(f"  {mode:<5} generated {t['generated']:>7} ({generated:.2f})"
              f"   prefill {t['prefill']:>7} ({prefill:.2f})"
              f"   cost {cost(t):>8.0f} ({cost(t) / cost(base):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
