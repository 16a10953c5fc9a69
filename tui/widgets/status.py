"""The status line: backend and model, what serves the local engine's MoE layers (a loud
warning when its self-check switched it to a fallback), tokens, cached-prompt share, speed,
context used (of the window the backend states, once it has), and the sandbox state (a
loud warning when commands are not isolated).

Figures change only when an event or a throttled stream tick says so; nothing here polls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual.widget import Widget

from agent import events as ev


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


@dataclass
class Stats:
    backend: str = "no backend"
    model: str = ""
    prompt_tokens: int = 0  # summed over steps
    cached_tokens: int = 0
    completion_tokens: int = 0
    context_tokens: int = 0  # the last request: prompt + completion
    context_window: int | None = None  # what the backend says its model serves; None: unknown
    tokens_per_s: float | None = None
    sandbox: str = "probing sandbox…"
    sandbox_isolated: bool | None = None
    state: str = "idle"
    mode: str = ""  # "plan" while plan mode is on
    effort: str = ""  # the current step's effort value ("" before the first step)
    thinking_budget: int | None = None  # its thinking budget (None: none)
    moe: str = ""  # what serves the engine's MoE layers, in a few words ("": not said)
    moe_fell_back: bool = False  # a failed self-check put a fallback there
    moe_lines: list[str] = field(default_factory=list)  # the same in full, with the reason
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _stream_started: float | None = None
    _stream_chars: int = 0

    def stream_started(self) -> None:
        self._stream_started = self.clock()
        self._stream_chars = 0

    def stream_progress(self, chars: int) -> None:
        self._stream_chars += chars
        if self._stream_started is not None:
            elapsed = self.clock() - self._stream_started
            if elapsed > 0.25:
                # ~4 characters per token until the step's real usage arrives.
                self.tokens_per_s = self._stream_chars / 4 / elapsed

    def engine_serving(self, event: ev.EngineServing) -> None:
        fell_back = event.fell_back
        labels = [entry.get("label", "?") for entry in event.moe
                  if not fell_back or entry.get("self_check", "").startswith("failed")]
        self.moe, self.moe_fell_back = " + ".join(dict.fromkeys(labels)), fell_back
        self.moe_lines = event.lines()

    def effort_step(self, value: str, budget: int | None) -> None:
        self.effort, self.thinking_budget = value, budget

    def usage(self, prompt: int, cached: int, completion: int) -> None:
        self.prompt_tokens += prompt
        self.cached_tokens += cached
        self.completion_tokens += completion
        self.context_tokens = prompt + completion
        if self._stream_started is not None:
            elapsed = self.clock() - self._stream_started
            if elapsed > 0 and completion:
                self.tokens_per_s = completion / elapsed
            self._stream_started = None


class StatusBar(Widget):
    """One line, repainted (never re-laid out) when its text changes."""

    def __init__(self, stats: Stats, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stats = stats
        self._text = Text()

    def on_mount(self) -> None:
        self.refresh_stats()

    def render(self) -> Text:
        return self._text

    def refresh_stats(self) -> None:
        s = self.stats
        cached_share = s.cached_tokens / s.prompt_tokens if s.prompt_tokens else 0.0
        speed = f"{s.tokens_per_s:.0f} tok/s" if s.tokens_per_s else "– tok/s"
        ctx = f"ctx {_k(s.context_tokens)}"
        if s.context_window:
            ctx += f"/{_k(s.context_window)} {s.context_tokens / s.context_window:.0%}"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {s.state} ", "reverse bold" if s.state != "idle" else "reverse dim")
        text.append(" " + key_hints(s.state) + "  ", "dim")
        if s.mode:
            text.append(f" {s.mode} mode ", "bold black on magenta")
            text.append(" ")
        if s.sandbox_isolated is False:  # first, so a narrow terminal cannot hide it
            text.append(f" ⚠ {s.sandbox} ", style="bold white on red")
            text.append(" ")
        if s.moe_fell_back:  # early for the same reason; /model has the whole reason
            text.append(f" ⚠ moe: {s.moe} (check failed) ", style="bold black on yellow")
            text.append(" ")
        text.append(short_backend(s.backend) + (f" · {s.model}" if s.model else ""), "bold")
        if s.moe and not s.moe_fell_back:
            text.append(f" │ moe: {s.moe}", "dim")
        if s.sandbox_isolated is not False:
            text.append(" │ ")
            text.append(s.sandbox, style="green" if s.sandbox_isolated else "dim")
        # Only a budgeted step shows its effort here; without budgets the transcript's
        # step lines say it.
        effort = ([] if s.thinking_budget is None
                  else [f"effort {s.effort} · think ≤{_k(s.thinking_budget)}"])
        for part in (  # the context's fill before the effort: it matters more when narrow
            ctx,
            *effort,
            f"tokens {_k(s.prompt_tokens + s.completion_tokens)} (out {_k(s.completion_tokens)})",
            f"cached {cached_share:.0%}",
            speed,
        ):
            text.append(" │ " + part)
        self.set_class(s.sandbox_isolated is False, "-unsafe")
        if text.plain != self._text.plain or text.spans != self._text.spans:
            self._text = text
            self.refresh()


# The two or three keys that matter in each state (/keys lists them all).
KEY_HINTS = {
    "idle": "enter send · ctrl+o copy · /keys",
    "waiting for you": "y yes · n no · a always",
}
BUSY_HINTS = "esc stop · ctrl+t runs"


def key_hints(state: str) -> str:
    return KEY_HINTS.get(state, BUSY_HINTS)


def short_backend(spec: str) -> str:
    """`replay:/long/path/turns.jsonl` → `replay:turns.jsonl`; others unchanged."""
    kind, sep, rest = spec.partition(":")
    if kind == "replay" and sep:
        return f"replay:{rest.rsplit('/', 1)[-1]}"
    return spec
