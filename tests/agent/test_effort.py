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
