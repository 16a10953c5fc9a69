"""The effort policy: signals, hysteresis, and the re-read cost of a switch."""

from __future__ import annotations

import pytest

from agent.effort import EffortPolicy, StepSignals


def test_fixed_modes_never_switch() -> None:
    for mode in ("none", "high"):
        policy = EffortPolicy(mode)
        values = {policy.decide(StepSignals(step, last_failed=step % 2 == 0)).value
                  for step in range(1, 6)}
        assert values == {mode}


def test_auto_plans_high_then_settles_to_none_after_the_hold() -> None:
    policy = EffortPolicy("auto")
    first = policy.decide(StepSignals(1))
    assert (first.value, first.switched, first.reread_tokens) == ("high", False, 0)
    held = policy.decide(StepSignals(2, context_tokens=2000))
    assert held.value == "high" and "hold" in held.reason
    down = policy.decide(StepSignals(3, context_tokens=2000))
    assert (down.value, down.switched, down.reread_tokens) == ("none", True, 2000)


def test_a_failure_switches_up_at_once_despite_the_hold() -> None:
    policy = EffortPolicy("auto")
    for step, signals in enumerate([StepSignals(1), StepSignals(2), StepSignals(3)], 1):
        signals.context_tokens = 1000 * step
        policy.decide(signals)
    assert policy.current == "none"
    up = policy.decide(StepSignals(4, context_tokens=4000, last_failed=True))
    assert up.value == "high" and up.switched and "failed" in up.reason


def test_a_long_history_makes_switching_too_expensive() -> None:
    policy = EffortPolicy("auto")
    policy.decide(StepSignals(1))
    policy.decide(StepSignals(2, context_tokens=90_000))
    stay = policy.decide(StepSignals(3, context_tokens=90_000))
    assert stay.value == "high" and not stay.switched and "costs more" in stay.reason
    # Short thinking makes going down worth even less; long thinking makes it pay.
    cheap = EffortPolicy("auto")
    cheap.decide(StepSignals(1))
    cheap.decide(StepSignals(2, context_tokens=20_000, last_thinking_tokens=3000))
    down = cheap.decide(StepSignals(3, context_tokens=20_000, last_thinking_tokens=3000))
    assert down.value == "none"


def test_repeated_failures_are_strong() -> None:
    policy = EffortPolicy("auto")
    policy.decide(StepSignals(1))
    stuck = policy.decide(StepSignals(3, context_tokens=10_000, consecutive_failures=3))
    assert stuck.value == "high"


def test_a_new_user_request_plans_again() -> None:
    policy = EffortPolicy("auto")
    for step in (1, 2, 3):
        policy.decide(StepSignals(step, context_tokens=1000))
    assert policy.current == "none"
    again = policy.decide(StepSignals(4, context_tokens=1000, new_request=True))
    assert again.value == "high" and "new request" in again.reason


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="effort"):
        EffortPolicy("medium")


def budgeted(mode: str = "auto") -> EffortPolicy:
    policy = EffortPolicy(mode)
    policy.takes_budgets = True
    return policy


def test_with_budgets_routine_steps_get_the_routine_budget_and_never_switch() -> None:
    policy = budgeted()
    costs = policy.costs
    first = policy.decide(StepSignals(1))
    assert (first.value, first.budget, first.switched) == ("high", costs.full_budget, False)
    for step in range(2, 8):
        routine = policy.decide(StepSignals(step, context_tokens=20_000 * step,
                                            last_thinking_tokens=3000))
        assert (routine.value, routine.budget) == ("high", costs.routine_budget)
        assert not routine.switched and routine.reread_tokens == 0
        assert "fixed settings" in routine.reason
    hard = policy.decide(StepSignals(8, context_tokens=200_000, last_failed=True))
    assert (hard.value, hard.budget, hard.switched) == ("high", costs.full_budget, False)
    assert "failed" in hard.reason


def test_every_hard_signal_gets_the_full_budget() -> None:
    for signals in (StepSignals(5, malformed=True), StepSignals(5, new_request=True),
                    StepSignals(5, consecutive_failures=2), StepSignals(5, review=True)):
        policy = budgeted()
        policy.decide(StepSignals(1))
        policy.decide(StepSignals(2))
        assert policy.decide(signals).budget == policy.costs.full_budget


def test_fixed_modes_send_no_budget() -> None:
    for mode in ("none", "high"):
        policy = budgeted(mode)
        assert all(policy.decide(StepSignals(s, last_failed=s == 3)).budget is None
                   for s in range(1, 5))


def test_from_none_settings_a_switch_up_is_priced_or_free() -> None:
    policy = budgeted()
    policy.current = "none"  # the user had chosen none earlier in the session
    routine = policy.decide(StepSignals(5, context_tokens=90_000))
    assert (routine.value, routine.budget) == ("none", None)
    dear = policy.decide(StepSignals(6, context_tokens=90_000, last_failed=True))
    assert dear.value == "none" and "costs more" in dear.reason
    free = policy.decide(StepSignals(7, context_tokens=90_000, last_failed=True, compacted=True))
    assert (free.value, free.budget, free.switched) == ("high", policy.costs.full_budget, True)
    assert "compaction" in free.reason


def test_without_budgets_a_cold_cache_makes_a_switch_free() -> None:
    policy = EffortPolicy("auto")
    policy.decide(StepSignals(1))
    policy.decide(StepSignals(2, context_tokens=90_000))
    stay = policy.decide(StepSignals(3, context_tokens=90_000))
    assert stay.value == "high" and stay.budget is None
    cold = policy.decide(StepSignals(4, context_tokens=90_000, cache_cold=True))
    assert cold.value == "none" and cold.switched and "no longer had the prefix" in cold.reason
