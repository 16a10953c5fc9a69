"""Effort policy on recorded trajectories: generated and prefill tokens per policy.

Each trajectory (a `replay:FILE`, one raw model turn per line) is run through the real
loop, real tools and the replay backend three times: always `high`, always `none`, and
the `auto` policy. Under `none` the model does not think, so a turn's `[THINK]…[/THINK]`
block is dropped when the request asks for `none`; the actions stay the same. This
measures the COST side only (tokens generated, prompt tokens the engine must prefill
because the prefix cache missed); whether `none` steps act as well as `high` ones needs
the real model and is not measured here.

Token counts come from the replay backend's estimate (≈4 characters per token; cached
tokens = the prefix shared with the previous request in chat-format order, so an effort
switch, encoded before the first user message, misses the cache for the whole history).

    .venv/bin/python bench/effort_bench.py [TRAJECTORY.jsonl ...]
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import events as ev
from agent.approval import ApprovalPolicy
from agent.backend import ChatRequest, Delta
from agent.effort import EffortPolicy
from agent.loop import AgentLoop, Budgets, LoopSettings
from agent.replay import ReplayBackend, load_turns
from tools.base import ToolContext
from tools.registry import default_tools

HERE = Path(__file__).resolve().parent
THINK_BLOCK = re.compile(r"\[THINK\].*?\[/THINK\]", re.DOTALL)
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


def make_repo(root: Path) -> Path:
    for name, text in FIXTURE.items():
        (root / name).write_text(text)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args],
                       cwd=root, check=True, capture_output=True)
    return root


def run_one(trajectory: Path, mode: str) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp))
        emitted: list[ev.Event] = []
        loop = AgentLoop(
            EffortAwareReplay(load_turns(trajectory), str(trajectory)),
            LoopSettings(repo=repo, tools=default_tools(), tool_context=ToolContext(repo),
                         approval=ApprovalPolicy("auto"), effort=EffortPolicy(mode),
                         budgets=Budgets(max_steps=100)),
            emitted.append,
        )
        start = ev.SessionStart("bench", "task", str(repo), "replay", mode, "auto", "system")
        finish = asyncio.run(loop.run(start))
    usage = [e for e in emitted if isinstance(e, ev.Usage)]
    efforts = [e for e in emitted if isinstance(e, ev.Effort)]
    return {
        "steps": finish.steps,
        "ok": finish.status == "done",
        "generated": sum(u.completion_tokens for u in usage),
        "prefill": sum(u.prompt_tokens - u.cached_prompt_tokens for u in usage),
        "switches": sum(e.switched for e in efforts),
        "high_steps": sum(e.value == "high" for e in efforts),
    }


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or sorted((HERE / "trajectories").glob("*.jsonl"))
    totals = {m: {"generated": 0, "prefill": 0} for m in ("high", "none", "auto")}
    print(f"{'trajectory':<16}{'policy':<8}{'steps':>6}{'high':>6}{'switch':>8}"
          f"{'generated':>11}{'prefill':>9}  finished")
    for path in files:
        for mode in ("high", "none", "auto"):
            r = run_one(path, mode)
            totals[mode]["generated"] += r["generated"]
            totals[mode]["prefill"] += r["prefill"]
            print(f"{path.stem:<16}{mode:<8}{r['steps']:>6}{r['high_steps']:>6}"
                  f"{r['switches']:>8}{r['generated']:>11}{r['prefill']:>9}  {r['ok']}")
    base = totals["high"]
    print("\ntotals against always-high (ratio; lower is cheaper):")
    for mode, t in totals.items():
        generated = t["generated"] / base["generated"]
        prefill = t["prefill"] / base["prefill"]
        print(f"  {mode:<5} generated {t['generated']:>6} ({generated:.2f})"
              f"   prefill {t['prefill']:>6} ({prefill:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
