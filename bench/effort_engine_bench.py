"""Effort policies measured on the real engine: prompt, cached and uncached tokens per policy.

Each session trajectory (bench/trajectories/session_*.jsonl, written by
author_sessions.py: two or three tasks on the ledger project, failing commands and
retries, a `/compact` and a new request in the middle) runs through the real loop and
the real tools under four policies:

- `high`, `none`: fixed settings, no budget;
- `auto-before`: `auto` on a backend that takes no thinking budget: settings switches
  only (the policy before budgets, plus the free switch right after a compaction);
- `auto-now`: `auto` with per-step thinking budgets under fixed settings.

Every request the loop builds goes, through the `local` backend (the wire format, the
`thinking_token_budget` parameter), to a real vLLM engine serving a tiny random
checkpoint of the real architecture with a long context (`tessera model tiny --context`),
with a short forced output (`max_tokens` = FORCED_OUTPUT): the engine's own usage gives
the prompt and cached tokens. The loop itself is fed the recorded turn, shaped as the
request asks: no thinking under `none`, thinking cut to the step's budget (a budget of 0
leaves the `[THINK][/THINK]` the engine forces). Generated tokens are that turn's, in the
served tokenizer (random weights do not think; what a real model generates under a
budget is at most the budget), so every figure is in the engine's tokens.

cost = generated + uncached prefill × PREFILL_WEIGHT (1/20: the policy's own price of a
prefill token against a generated one).

Beside the engine's figures are the modelled ones: the replay backend's cache model
(whole chat-format units shared with the previous request, tekken v15 token counts).

    python bench/effort_engine_bench.py [--engine-dir DIR --checkpoint DIR] [TRAJ.jsonl ...]

Without `--engine-dir` a tiny checkpoint (context CONTEXT) is written and an engine started
and stopped around the run (about half a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import events as ev
from agent.backend import ChatRequest, Delta, UsageDelta
from agent.backends.local import LocalBackend
from agent.context import build_system_context
from agent.effort import EffortCosts, EffortPolicy
from agent.replay import ReplayBackend, load_turns
from agent.tokens import TokenCounter, load_model_tokenizer
from bench.effort_bench import TRAJECTORIES, bench_loop, drive, load_setup, make_repo

CONTEXT = 65_536
FORCED_OUTPUT = 4
PREFILL_WEIGHT = EffortCosts().prefill_weight
POLICIES = {"high": ("high", False), "none": ("none", False),
            "auto-before": ("auto", False), "auto-now": ("auto", True)}
THINK = re.compile(r"\[THINK\](.*?)\[/THINK\]", re.DOTALL)


@dataclasses.dataclass
class Sent:
    """One request: what the loop asked, what the engine and the model reported."""

    turn: int
    effort: str
    budget: int | None
    prompt: int
    cached: int
    generated: int
    modelled_prompt: int
    modelled_cached: int
    modelled_generated: int
    thinking_cut: int  # recorded thinking tokens the budget removed


class EngineReplay(ReplayBackend):
    """The recorded turns for the loop; every request also to the engine, for its usage."""

    def __init__(self, path: Path, engine: LocalBackend, budgets: bool,
                 served: TokenCounter) -> None:
        super().__init__(load_turns(path), str(path))
        self.engine = engine
        self.budgets = budgets
        self.served = served
        self.sent: list[Sent] = []

    @property
    def takes_thinking_budget(self) -> bool | None:
        return self.engine.takes_thinking_budget if self.budgets else False

    def _shape(self, raw: str, request: ChatRequest) -> tuple[str, int]:
        """The turn as the model would write it under the request; thinking cut."""
        match = THINK.search(raw)
        if match is None:
            return raw, 0
        if request.effort == "none":
            return THINK.sub("", raw, count=1), 0
        budget = request.thinking_budget
        tokens = self.served._raw.encode(match.group(1), bos=False, eos=False)
        if budget is None or len(tokens) <= budget:
            return raw, 0
        kept = self.served._raw.decode(tokens[:budget]) if budget else ""
        return raw[:match.start(1)] + kept + raw[match.end(1):], len(tokens) - budget

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        position = self.position
        usage = UsageDelta(0, 0, 0)
        async for delta in self.engine.stream(dataclasses.replace(request,
                                                                  max_tokens=FORCED_OUTPUT)):
            if isinstance(delta, UsageDelta):
                usage = delta
        cut = 0
        if position < len(self.turns):
            turn = self.turns[position]
            turn.raw, cut = self._shape(turn.raw, request)
        async for delta in super().stream(request):
            if isinstance(delta, UsageDelta):
                raw = self.turns[position].raw
                generated = self.served.raw_output(raw)
                self.sent.append(Sent(position, request.effort, request.thinking_budget,
                                      usage.prompt_tokens, usage.cached_prompt_tokens,
                                      generated, delta.prompt_tokens,
                                      delta.cached_prompt_tokens, delta.completion_tokens, cut))
                delta = UsageDelta(usage.prompt_tokens, usage.cached_prompt_tokens, generated)
            yield delta


def marks_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def run_session(path: Path, policy: str, engine: LocalBackend, served: TokenCounter
                ) -> dict:
    mode, budgets = POLICIES[policy]
    marks = marks_of(path)
    events: list[ev.Event] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo, task = make_repo(Path(tmp), path)
        system = build_system_context(repo, repo, repo_map_tokens=1024).prompt
        backend = EngineReplay(path, engine, budgets, served)
        loop = bench_loop(backend, repo, EffortPolicy(mode), events.append)
        start = ev.SessionStart("bench", task, str(repo), "local", mode, "auto", system)
        finish = asyncio.run(drive(loop, start, load_setup(path)))
    efforts = [e for e in events if isinstance(e, ev.Effort)]
    full = EffortCosts().full_budget
    hard = [s for s in backend.sent if marks[s.turn].get("hard")]
    # Steady state: requests after the first of the session and of each compacted history.
    after_reset = {0} | {i + 1 for i, s in enumerate(backend.sent) if marks[s.turn].get("summary")}
    steady = [s for i, s in enumerate(backend.sent) if i not in after_reset]
    return {
        "ok": finish.status == "done" and backend.position == len(backend.turns),
        "steps": len([s for s in backend.sent if not marks[s.turn].get("summary")]),
        "switches": sum(e.switched for e in efforts),
        "hard": len(hard),
        "hard_full": sum(s.effort == "high" and (s.budget is None or s.budget >= full)
                         for s in hard),
        "failed": sum(not e.ok for e in events if isinstance(e, ev.ToolResult)),
        "sent": backend.sent,
        "steady_prompt": sum(s.prompt for s in steady),
        "steady_cached": sum(s.cached for s in steady),
        "budgets": [e.budget for e in efforts],
    }


def totals(results: list[dict]) -> dict[str, float]:
    sent = [s for r in results for s in r["sent"]]
    t = {
        "prompt": sum(s.prompt for s in sent), "cached": sum(s.cached for s in sent),
        "generated": sum(s.generated for s in sent),
        "m_prompt": sum(s.modelled_prompt for s in sent),
        "m_cached": sum(s.modelled_cached for s in sent),
        "m_generated": sum(s.modelled_generated for s in sent),
        "cut": sum(s.thinking_cut for s in sent),
        "steady_prompt": sum(r["steady_prompt"] for r in results),
        "steady_cached": sum(r["steady_cached"] for r in results),
        "hard": sum(r["hard"] for r in results), "hard_full": sum(r["hard_full"] for r in results),
        "switches": sum(r["switches"] for r in results), "steps": sum(r["steps"] for r in results),
    }
    t["uncached"] = t["prompt"] - t["cached"]
    t["m_uncached"] = t["m_prompt"] - t["m_cached"]
    t["cost"] = t["generated"] + t["uncached"] * PREFILL_WEIGHT
    t["m_cost"] = t["m_generated"] + t["m_uncached"] * PREFILL_WEIGHT
    return t


def report(by_policy: dict[str, dict[str, float]]) -> None:
    base = by_policy["high"]
    print(f"\nENGINE-MEASURED (served tokenizer; cost = generated + uncached x {PREFILL_WEIGHT:g})")
    print(f"{'policy':<12}{'prompt':>10}{'cached%':>9}{'steady%':>9}{'uncached':>10}"
          f"{'generated':>11}{'cost':>9}{'x high':>8}{'switch':>8}{'hard full':>11}"
          f"{'cut':>7}")
    for name, t in by_policy.items():
        print(f"{name:<12}{t['prompt']:>10.0f}{100 * t['cached'] / t['prompt']:>8.1f}%"
              f"{100 * t['steady_cached'] / max(1, t['steady_prompt']):>8.1f}%"
              f"{t['uncached']:>10.0f}{t['generated']:>11.0f}{t['cost']:>9.0f}"
              f"{t['cost'] / base['cost']:>8.2f}{t['switches']:>8.0f}"
              f"{t['hard_full']:>6.0f}/{t['hard']:<4.0f}{t['cut']:>7.0f}")
    print("\nMODELLED (replay cache model, tekken v15 tokens; same cost formula)")
    print(f"{'policy':<12}{'prompt':>10}{'cached%':>9}{'uncached':>10}{'generated':>11}"
          f"{'cost':>9}{'x high':>8}")
    for name, t in by_policy.items():
        print(f"{name:<12}{t['m_prompt']:>10.0f}{100 * t['m_cached'] / t['m_prompt']:>8.1f}%"
              f"{t['m_uncached']:>10.0f}{t['m_generated']:>11.0f}{t['m_cost']:>9.0f}"
              f"{t['m_cost'] / base['m_cost']:>8.2f}")


def start_tiny_engine(root: Path) -> tuple[Path, Path]:
    from model.engine import EngineSettings, start_engine
    from model.tiny import write_tiny

    checkpoint, data_dir = root / "tiny", root / "engine"
    write_tiny(checkpoint, context=CONTEXT)
    started = time.monotonic()
    start_engine(EngineSettings(checkpoint, max_model_len=CONTEXT), data_dir, timeout=900)
    print(f"engine started in {time.monotonic() - started:.0f} s (tiny checkpoint, context "
          f"{CONTEXT})", flush=True)
    return checkpoint, data_dir


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trajectories", nargs="*", type=Path)
    parser.add_argument("--engine-dir", type=Path, help="data dir of a running engine")
    parser.add_argument("--checkpoint", type=Path, help="its checkpoint (for the tokenizer)")
    parser.add_argument("--policies", default=",".join(POLICIES))
    args = parser.parse_args(argv)
    files = args.trajectories or sorted(TRAJECTORIES.glob("session_*.jsonl"))
    policies = args.policies.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if args.engine_dir:
            if args.checkpoint is None:
                parser.error("--engine-dir needs --checkpoint")
            checkpoint, data_dir, own = args.checkpoint, args.engine_dir, False
        else:
            (checkpoint, data_dir), own = start_tiny_engine(Path(tmp)), True
        try:
            served = TokenCounter(load_model_tokenizer(str(checkpoint)))
            results: dict[str, list[dict]] = {p: [] for p in policies}
            print(f"{'trajectory':<40}{'policy':<12}{'steps':>6}{'hard':>6}{'full':>6}"
                  f"{'fails':>6}{'switch':>7}{'prompt':>9}{'cached':>9}{'s':>6}  done")
            for path in files:
                for policy in policies:
                    engine = LocalBackend(data_dir, checkpoint)  # a fresh backend per run
                    began = time.monotonic()
                    r = run_session(path, policy, engine, served)
                    results[policy].append(r)
                    print(f"{path.stem:<40}{policy:<12}{r['steps']:>6}{r['hard']:>6}"
                          f"{r['hard_full']:>6}{r['failed']:>6}{r['switches']:>7}"
                          f"{sum(s.prompt for s in r['sent']):>9}"
                          f"{sum(s.cached for s in r['sent']):>9}"
                          f"{time.monotonic() - began:>6.0f}  {r['ok']}", flush=True)
            report({p: totals(rs) for p, rs in results.items()})
        finally:
            if own:
                from model.engine import stop_engine

                stop_engine(data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
