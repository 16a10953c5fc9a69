"""Per-step reasoning effort: a thinking budget under fixed settings, or a settings switch.

The model takes `none` or `high`, encoded in a [MODEL_SETTINGS] block *before the first
user message* (model.md). A settings switch therefore changes tokens near the start of
the prompt and the engine's prefix cache misses for the whole history: every switch
re-reads (prefills) the whole context.

A step is hard after the first step of a task (planning), a failed command or failing
tests, a malformed call, a failed verify check (agent/verify.py), repeated errors, a
review, or the user asking for it; otherwise it is routine.

A per-request thinking budget (vLLM's `thinking_token_budget`: once the model has thought
that many tokens the engine forces `[/THINK]`) changes nothing in the prompt. So where the
backend takes budgets, `auto` keeps the settings at `high` and varies the budget per step:
the full budget on a hard step, `routine_budget` (0: no thinking) on a routine one. The
prefix cache stays hot across every step.

A real settings switch is still one of the choices, priced in decode-equivalent tokens:

- it is free on the first step (nothing cached), right after a compaction (the history
  was rewritten), and when the engine reported the last prompt as mostly uncached;
- otherwise it is taken only when its expected gain beats the re-read: context length ×
  `prefill_weight` (prefill is much cheaper per token than decode; 1/20 is a conservative
  ratio for a batch-1 MoE on a GPU). Switching up (none → high) wins `hard_step_benefit`
  tokens × the signal's strength. Switching down wins, without budgets, the thinking of
  the routine steps ahead (recent mean × `routine_horizon`); with budgets only the two
  tokens of a forced `[THINK][/THINK]` per routine step, and it costs a re-read again at
  the next hard step, so under budgets the settings stay `high`.

Where the backend does not take budgets (detected once per backend, see agent/backend.py
TakesThinkingBudget), `auto` is the switch-only policy: with hysteresis (a value holds
for `min_hold_steps` steps, except that strong signals always switch up).

`--effort none|high` fix the settings and send no budget. Every decision comes with its
reason; the loop turns it into an `effort` event with the value and the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("none", "high", "auto")


@dataclass
class StepSignals:
    """What the loop knows before a step."""

    step: int
    context_tokens: int = 0  # the history the engine would re-read on a switch
    last_failed: bool = False  # a tool result with ok=False (failed command, failing tests)
    consecutive_failures: int = 0  # steps in a row that ended with a failed result
    malformed: bool = False  # the last step's tool call could not be parsed
    checks_failed: bool = False  # a configured check failed after the last change (verify)
    review: bool = False
    new_request: bool = False  # the user just sent a new message: plan again
    last_thinking_tokens: int = 0  # thinking tokens of the previous step
    compacted: bool = False  # the history was compacted since the last step
    # The engine served less than this share of the last prompt from its cache.
    cache_cold: bool = False


@dataclass(frozen=True)
class EffortDecision:
    value: str
    reason: str
    switched: bool
    reread_tokens: int
    # Thinking tokens the engine may generate before it forces the end of the thinking
    # block; None: no budget (the model thinks as long as it likes, or not at all).
    budget: int | None = None


@dataclass
class EffortCosts:
    prefill_weight: float = 1 / 20
    hard_step_benefit: int = 3000
    routine_horizon: int = 4
    min_hold_steps: int = 2
    default_thinking_tokens: int = 400
    full_budget: int = 32_768  # a hard step's budget: more than any step thinks
    routine_budget: int = 0  # a routine step's: act at once
    cold_cache_share: float = 0.5  # below this cached share the prefix counts as cold


@dataclass
class EffortPolicy:
    mode: str = "auto"
    costs: EffortCosts = field(default_factory=EffortCosts)
    current: str | None = None  # value of the previous step (None before the first)
    held_for: int = 0  # steps since the last switch
    thinking_history: list[int] = field(default_factory=list)
    # Whether the backend takes a per-request thinking budget; the loop sets it from the
    # backend before each step (False: only settings switches vary the effort).
    takes_budgets: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"effort must be one of {', '.join(MODES)}; got {self.mode!r}")

    def decide(self, signals: StepSignals) -> EffortDecision:
        if signals.last_thinking_tokens and self.current == "high":
            self.thinking_history.append(signals.last_thinking_tokens)
        value, budget, reason = self._choose(signals)
        switched = self.current is not None and value != self.current
        reread = signals.context_tokens if switched else 0
        self.held_for = 0 if switched or self.current is None else self.held_for + 1
        self.current = value
        return EffortDecision(value, reason, switched, reread, budget)

    def _choose(self, s: StepSignals) -> tuple[str, int | None, str]:
        if self.mode != "auto":
            return self.mode, None, f"fixed by --effort {self.mode}"
        if self.current is None:
            # Nothing is cached yet, so the first choice costs no re-read.
            budget = self.costs.full_budget if self.takes_budgets else None
            return "high", budget, "first step of the task: plan before acting"
        if self.takes_budgets:
            return self._with_budget(s)
        value, reason = self._switch_only(s)
        return value, None, reason

    def _free(self, s: StepSignals) -> str | None:
        """Why a settings switch would cost no extra re-read now, if it would not."""
        if s.compacted:
            return "right after a compaction"
        if s.cache_cold:
            return "the engine no longer had the prefix cached"
        return None

    def _with_budget(self, s: StepSignals) -> tuple[str, int | None, str]:
        want, strength, why = self._signal(s)
        budget = self.costs.full_budget if want == "high" else self.costs.routine_budget
        if self.current == "high":
            # Going down saves only the forced end of thinking per routine step, and the
            # next hard step would re-read everything to come back up: never worth it.
            return "high", budget, (
                f"{why}: thinking budget {budget} under fixed settings (prefix stays cached)")
        # Settings are `none` (the user chose it earlier in the session): only a switch
        # lets the model think at all.
        if want == "none":
            return "none", None, f"{why}; stays none"
        free = self._free(s)
        cost = s.context_tokens * self.costs.prefill_weight
        benefit = self.costs.hard_step_benefit * strength
        if free is None and benefit <= cost:
            return "none", None, (
                f"{why}, but re-reading {s.context_tokens} tokens (~{cost:.0f} "
                f"decode-equivalent) costs more than the expected gain (~{benefit:.0f}); "
                "stays none")
        priced = free or (f"re-reads {s.context_tokens} tokens (~{cost:.0f} decode-equivalent) "
                          f"for an expected gain of ~{benefit:.0f}")
        return "high", budget, f"{why}; switching to high: {priced}"

    def _switch_only(self, s: StepSignals) -> tuple[str, str]:
        want, strength, why = self._signal(s)
        if want == self.current:
            return self.current, f"{why}; stays {self.current}"
        if free := self._free(s):
            return want, f"{why}; switching costs nothing extra: {free}"
        strong = want == "high" and strength >= 1.0
        if self.held_for + 1 < self.costs.min_hold_steps and not strong:
            return self.current, (
                f"{why}, but {self.current} was chosen {self.held_for + 1} step(s) ago "
                f"(hold {self.costs.min_hold_steps}); stays {self.current}"
            )
        cost = s.context_tokens * self.costs.prefill_weight
        benefit = self._benefit(want, strength)
        if benefit <= cost:
            return self.current, (
                f"{why}, but re-reading {s.context_tokens} tokens (~{cost:.0f} decode-equivalent) "
                f"costs more than the expected gain (~{benefit:.0f}); stays {self.current}"
            )
        return want, (
            f"{why}; switching re-reads {s.context_tokens} tokens (~{cost:.0f} "
            f"decode-equivalent) for an expected gain of ~{benefit:.0f}"
        )

    def _signal(self, s: StepSignals) -> tuple[str, float, str]:
        """The effort the signals ask for, how strongly (0..2), and why."""
        if s.consecutive_failures >= 2:
            return "high", 2.0, f"{s.consecutive_failures} failed steps in a row"
        if s.malformed:
            return "high", 1.0, "the last tool call was malformed"
        if s.checks_failed:
            return "high", 1.0, "a check failed after the last change"
        if s.last_failed:
            return "high", 1.0, "the last command or tool failed"
        if s.review:
            return "high", 1.0, "reviewing changes"
        if s.new_request:
            return "high", 1.0, "a new request from the user: plan"
        return "none", 1.0, "routine step after a successful result"

    def _benefit(self, want: str, strength: float) -> float:
        if want == "high":
            return self.costs.hard_step_benefit * strength
        recent = self.thinking_history[-3:]
        per_step = sum(recent) / len(recent) if recent else self.costs.default_thinking_tokens
        return per_step * self.costs.routine_horizon
