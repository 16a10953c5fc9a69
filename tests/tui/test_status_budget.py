"""The footer shows a budgeted step's effort and thinking budget; the transcript's step
line shows it too."""

from __future__ import annotations

from agent import events as ev
from tui.records import Record, StepRecord, TranscriptBuilder
from tui.widgets.status import Stats, StatusBar


def footer(stats: Stats) -> str:
    bar = StatusBar(stats)
    bar.refresh_stats()
    return bar.render().plain


def test_the_footer_shows_the_steps_budget() -> None:
    stats = Stats()
    assert "think" not in footer(stats)
    stats.effort_step("high", 0)
    assert "effort high · think ≤0" in footer(stats)
    stats.effort_step("high", 32_768)
    assert "effort high · think ≤32.8k" in footer(stats)
    stats.effort_step("none", None)  # no budget: the step line says the effort
    assert "think" not in footer(stats)


def test_the_step_record_keeps_the_budget() -> None:
    records: list[Record] = []
    builder = TranscriptBuilder(records.append, lambda record: None)
    builder.event(ev.Effort(3, "high", "routine step", budget=0))
    steps = [r for r in records if isinstance(r, StepRecord)]
    assert steps[-1].budget == 0
