"""Per-step reasoning effort: `high` when thinking pays, `none` when it does not.

The model takes `none` or `high`, encoded in a [MODEL_SETTINGS] block *before the first
user message* (model.md). So a switch changes tokens near the start of the prompt and the
engine's prefix cache misses for the whole history: every switch re-reads (prefills) the
whole context. This policy prices that re-read against what the switch is expected to
win, in decode-equivalent tokens:

- switching up (none → high) wins when a step is hard: the first step of a task
  (planning), a failed command or failing tests, a malformed call, a failed verify
  check (agent/verify.py), repeated errors, a review, or the user asking for it. The
  expected win is `hard_step_benefit` decode tokens (a wasted step avoided), scaled by
  the signal's strength.
- switching down (high → none) wins the thinking tokens of the routine steps ahead:
  recent mean thinking length × `routine_horizon` steps.
- the cost of either is the context length × `prefill_weight` (prefill is much cheaper
  per token than decode; 1/20 is a conservative ratio for a batch-1 MoE on a GPU).

Hysteresis: after a switch the value holds for `min_hold_steps` steps, except that
strong signals (failures, a user request) may always switch up. Every decision comes with
its reason; the loop turns it into an `effort` event.
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


@dataclass(frozen=True)
class EffortDecision:
    value: str
    reason: str
    switched: bool
    reread_tokens: int


@dataclass
class EffortCosts:
    prefill_weight: float = 1 / 20
    hard_step_benefit: int = 3000
    routine_horizon: int = 4
    min_hold_steps: int = 2
    default_thinking_tokens: int = 400


@dataclass
class EffortPolicy:
    mode: str = "auto"
    costs: EffortCosts = field(default_factory=EffortCosts)
    current: str | None = None  # value of the previous step (None before the first)
    held_for: int = 0  # steps since the last switch
    thinking_history: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"effort must be one of {', '.join(MODES)}; got {self.mode!r}")

    def decide(self, signals: StepSignals) -> EffortDecision:
        if signals.last_thinking_tokens and self.current == "high":
            self.thinking_history.append(signals.last_thinking_tokens)
        value, reason = self._choose(signals)
        switched = self.current is not None and value != self.current
        reread = signals.context_tokens if switched else 0
        self.held_for = 0 if switched or self.current is None else self.held_for + 1
        self.current = value
        return EffortDecision(value, reason, switched, reread)

    def _choose(self, s: StepSignals) -> tuple[str, str]:
        if self.mode != "auto":
            return self.mode, f"fixed by --effort {self.mode}"
        if self.current is None:
            # Nothing is cached yet, so the first choice costs no re-read.
            return "high", "first step of the task: plan before acting"
        want, strength, why = self._signal(s)
        if want == self.current:
            return self.current, f"{why}; stays {self.current}"
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
