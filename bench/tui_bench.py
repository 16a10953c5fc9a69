"""The chat screen under a long session: keypress-to-screen latency and idle CPU.

Drives the real app headless (`App.run_test`). A synthetic session of 1,000 messages
(500 user turns, 500 answers with Markdown and code) and 200 tool cards (edits with
diffs, shell output) is loaded through the resume path, then:

- keypress-to-screen: a key is pressed in the message box and the clock stops when the
  screen update it causes has been rendered to terminal segments (headless Textual skips
  that last step, so the bench does it), median of N keys;
- the same while the model streams at 200 tokens/s into the transcript;
- new entry: a transcript entry is added (as when a tool result arrives) and the clock
  stops when it is on screen;
- idle CPU: process CPU time over wall time while nothing happens;
- baseline: the same figures on an empty session, side by side.

Both screen modes are measured: full-screen (the default) and inline (`tessera --inline`,
where every frame redraws the whole live region under the prompt, and finished entries are
rendered into the terminal's scrollback; there "new entry" is the time until the entry
has been written there and the region redrawn). Headless Textual has no inline driver;
the bench's stands in for it (`InlineHeadlessDriver`), so Textual takes its inline paths.

`--unbounded` adds a run with every entry mounted (no window), to show what the bounded
transcript saves. Prints medians.

    .venv/bin/python bench/tui_bench.py [--keys 40] [--idle 5] [--modes full,inline]
        [--unbounded]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events
from textual.drivers.headless_driver import HeadlessDriver

from agent import events as ev
from agent.backend import TextDelta, ThinkingDelta
from tui.app import TesseraApp
from tui.records import NoteRecord
from tui.session import ChatOptions
from tui.terminal_io import TerminalPrefs
from tui.widgets.inline_transcript import InlineTranscript

ANSWER = """Here is what I found in `module_{i}.py`:

- the function `compute_{i}` returns early when the list is empty;
- the caller does not handle `None`.

```python
def compute_{i}(values: list[int]) -> int | None:
    if not values:
        return None
    return sum(v * v for v in values) // len(values)
```

I will **fix** the caller next."""

DIFF = """--- a/pkg/module_{i}.py
+++ b/pkg/module_{i}.py
@@ -10,7 +10,7 @@ def compute_{i}(values):
     if not values:
         return None
-    return sum(values)
+    return sum(v * v for v in values) // len(values)


 def helper():
"""


def synthetic_session(messages: int = 1000, tool_cards: int = 200) -> list[ev.Event]:
    turns = messages // 2
    events: list[ev.Event] = [
        ev.SessionStart("bench", "start the work", "/repo", "replay:bench", "auto", "ask")
    ]
    every = max(1, turns // tool_cards)
    cards = 0
    for i in range(turns):
        if i:
            events.append(ev.UserMessage(f"now look at module {i}, and explain what it does"))
        step = i + 1
        events.append(ev.Effort(step, "high" if i % 7 == 0 else "none", "routine step"))
        events.append(ev.Thinking(step, f"The user wants module {i}. " * 8))
        if i % every == 0 and cards < tool_cards:
            cards += 1
            call_id = f"call_{step}_0"
            if cards % 2:
                args = {"path": f"pkg/module_{i}.py", "old_string": "a", "new_string": "b"}
                events.append(ev.ToolCall(step, call_id, "edit_file", args))
                output = f"Edited pkg/module_{i}.py: replaced 1 occurrence at line 12.\n"
                events.append(
                    ev.ToolResult(step, call_id, "edit_file", True, output + DIFF.format(i=i))
                )
            else:
                events.append(ev.ToolCall(step, call_id, "bash", {"command": "pytest -q"}))
                output = "\n".join(f"tests/test_{j}.py ....." for j in range(30))
                events.append(ev.ToolResult(step, call_id, "bash", True, output))
        events.append(ev.Text(step, ANSWER.format(i=i)))
        events.append(ev.Usage(step, 2000 + 40 * i, 1900 + 40 * i, 120))
    events.append(ev.Finish("done", "ok", turns))
    return events


class InlineHeadlessDriver(HeadlessDriver):
    """Headless, but inline: Textual renders every frame as a full inline region."""

    @property
    def is_inline(self) -> bool:
        return True


class BenchApp(TesseraApp):
    """The real app, with the terminal write that headless mode skips put back and timed.

    `expect` is a condition on the app's state; the first screen update rendered after it
    holds stamps `shown_at`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.expect = None
        self.shown_at = 0.0

    def _build_driver(self, headless, inline, mouse, size):
        driver = super()._build_driver(headless, inline, mouse, size)
        if self.terminal.inline:
            driver.__class__ = InlineHeadlessDriver  # same state, inline paths taken
        return driver

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            renderable.render_segments(self.console)
            if self.expect is not None and self.expect():
                self.shown_at = time.perf_counter()
                self.expect = None


async def _key_latency(app: BenchApp, keys: int) -> list[float]:
    """Send keys as the terminal driver does and time each until the screen shows it."""
    assert app.chat is not None
    prompt = app.chat.prompt
    samples = []
    for n in range(keys):
        key, char = ("backspace", None) if n % 10 == 9 else ("x", "x")
        before = prompt.text
        app.shown_at = 0.0
        app.expect = lambda before=before: prompt.text != before
        start = time.perf_counter()
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
        deadline = start + 5.0
        while not app.shown_at and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        samples.append((app.shown_at or deadline) - start)
        await asyncio.sleep(0.02)  # a fast typist: 50 keys/s at most
    return samples


async def _entry_latency(app: BenchApp, count: int) -> list[float]:
    """A new transcript entry (a tool result arriving): time until it is on screen."""
    chat = app.chat
    assert chat is not None
    samples = []
    for n in range(count):
        record = NoteRecord(f"tool output {n}: " + "x" * 60)
        app.shown_at = 0.0

        def mounted(record: NoteRecord = record) -> bool:
            transcript = chat.transcript
            if isinstance(transcript, InlineTranscript):  # shown means written above
                return transcript.written == len(transcript.records)
            entry = transcript._entries.get(id(record))
            return entry is not None and entry.is_mounted and entry.region.height > 0

        app.expect = mounted
        start = time.perf_counter()
        chat.transcript.add(record)
        deadline = start + 10.0
        while not app.shown_at and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        samples.append((app.shown_at or deadline) - start)
        await asyncio.sleep(0.05)
    return samples


async def _stream(app: BenchApp, tokens_per_s: float, stop: asyncio.Event) -> int:
    """Feed live deltas as a model would: ~4 characters per token."""
    chat = app.chat
    assert chat is not None
    chat.session.driver.running = True  # as while a turn runs: deltas wait for the tick
    chat.session_event(ev.Effort(10_000, "high", "benchmark stream"))
    chat._ticker.resume()
    sent = 0
    interval = 1 / tokens_per_s
    start = time.perf_counter()
    try:
        while not stop.is_set():
            delta = ThinkingDelta("mull ") if sent < 200 else TextDelta("word ")
            chat.session_delta(delta)
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * interval - time.perf_counter()))
    finally:
        chat._ticker.pause()
        chat.session.driver.running = False
    return sent


async def measure(
    repo: Path,
    events: list[ev.Event],
    keys: int,
    idle_s: float,
    window: int | None,
    inline: bool = False,
) -> dict[str, float]:
    options = ChatOptions(repo=repo, backend="replay:unused", db_path=repo.parent / "s.db")
    app = BenchApp(options, sandbox_probe=lambda: (True, "sandbox: bench"),
                   terminal=TerminalPrefs(inline=inline))
    figures: dict[str, float] = {}
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        chat = app.chat
        assert chat is not None
        if window is not None:
            chat.transcript.window = window
        start = time.perf_counter()
        chat.show_history(events)
        await pilot.pause()
        figures["load_s"] = time.perf_counter() - start
        figures["mounted"] = chat.transcript.mounted_count
        if inline:
            assert app.is_inline and isinstance(chat.transcript, InlineTranscript)
            assert chat.transcript.written == len(chat.transcript.records)
        await pilot.pause(0.5)
        latencies = await _key_latency(app, keys)
        figures["key_ms"] = statistics.median(latencies) * 1000
        figures["key_p90_ms"] = sorted(latencies)[int(len(latencies) * 0.9)] * 1000
        appended = await _entry_latency(app, max(5, keys // 4))
        figures["entry_ms"] = statistics.median(appended) * 1000
        stop = asyncio.Event()
        streamer = asyncio.create_task(_stream(app, 200, stop))
        await asyncio.sleep(0.3)
        stream_start = time.perf_counter()
        streaming = await _key_latency(app, keys)
        stop.set()
        sent = await streamer
        figures["key_streaming_ms"] = statistics.median(streaming) * 1000
        figures["stream_tok_s"] = sent / (time.perf_counter() - stream_start + 0.3)
        await pilot.pause(0.5)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(idle_s)
        figures["idle_cpu_pct"] = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=40, help="keypresses per measurement")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle measured")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--tool-cards", type=int, default=200)
    parser.add_argument(
        "--unbounded", action="store_true", help="also run with every entry mounted (slow)"
    )
    parser.add_argument("--modes", default="full,inline", help="full, inline or both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        session = synthetic_session(args.messages, args.tool_cards)
        long_name = f"{args.messages} messages + {args.tool_cards} tool cards"
        runs: dict[str, tuple[list[ev.Event], int | None, bool]] = {}
        for mode in args.modes.split(","):
            inline = mode.strip() == "inline"
            tag = " (inline)" if inline else ""
            runs["empty session (baseline)" + tag] = (session[:1], None, inline)
            runs[long_name + tag] = (session, None, inline)
        if args.unbounded:
            runs["same, unbounded (all mounted)"] = (session, 10**9, False)
        results = {
            name: asyncio.run(measure(repo, evs, args.keys, args.idle, window, inline))
            for name, (evs, window, inline) in runs.items()
        }
    print(
        f"{'run':<42} {'load s':>7} {'mounted':>8} {'key ms':>7} {'p90':>6} "
        f"{'key ms @200 tok/s':>18} {'new entry ms':>13} {'idle CPU %':>11}"
    )
    for name, f in results.items():
        print(
            f"{name:<42} {f['load_s']:7.2f} {f['mounted']:8.0f} {f['key_ms']:7.1f} "
            f"{f['key_p90_ms']:6.1f} {f['key_streaming_ms']:18.1f} {f['entry_ms']:13.1f} "
            f"{f['idle_cpu_pct']:11.2f}"
        )
    print()
    for tag in dict.fromkeys(name.removeprefix(long_name) for name in results
                             if name.startswith(long_name)):
        base = results["empty session (baseline)" + tag]
        long_run = results[long_name + tag]
        print(
            f"keypress-to-screen{tag or ' (full screen)'}, long session / empty: "
            f"{long_run['key_ms'] / base['key_ms']:.2f}x   (target: under 50 ms; streaming at "
            f"~{long_run['stream_tok_s']:.0f} tok/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
