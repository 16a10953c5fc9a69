"""`replay:FILE`: a backend that plays back recorded raw model output.

FILE is JSONL, one object per assistant turn: `{"raw": "..."}` holding exactly what the
model emits after `[/INST]` (optional `[THINK]…[/THINK]`, text,
`[TOOL_CALLS]name[ARGS]{json}`…). Each turn is streamed in small chunks through the
same streaming parser the engine path uses (model/stream_parser.py), so the loop cannot
tell a replay from a live model. When the file runs out the session ends with a clear
error. A session's `raw_output` events form such a file again.

Usage is simulated honestly enough for budgets and the effort benchmark: prompt tokens
are the request's rendered length (≈4 characters per token) and cached tokens are the
prefix it shares with the previous request, in the order the chat format encodes it
(system prompt, tools, model settings, then the messages), so an effort switch misses
the cache for the whole history just as it does on the engine.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from agent.backend import (
    BackendError,
    BackendUnavailable,
    ChatRequest,
    Delta,
    FinishDelta,
    ToolCallDelta,
    UsageDelta,
)
from agent.raw_parse import RawOutputParser

CHUNK_CHARS = 7  # small and odd, so special tokens and JSON are split across chunks
CHARS_PER_TOKEN = 4


class ReplayExhausted(BackendError):
    pass


@dataclass
class ReplayTurn:
    raw: str
    line: int


def load_turns(path: Path) -> list[ReplayTurn]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackendUnavailable(f"replay file {path}: {exc.strerror or exc}") from exc
    turns = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BackendUnavailable(f"{path}:{number}: not JSON: {exc.msg}") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("raw"), str):
            raise BackendUnavailable(f'{path}:{number}: expected an object {{"raw": "..."}}')
        turns.append(ReplayTurn(obj["raw"], number))
    return turns


def session_turns(events: list) -> list[str]:
    """The raw model turns a stored session consumed, in order: a replay file for it.

    Turns of steps cut off before their `usage` were asked again, so only completed ones
    count; compaction summaries are turns too.
    """
    from agent import events as ev

    complete = max((e.step for e in events if isinstance(e, ev.Usage)), default=0)
    turns = []
    for event in events:
        if (isinstance(event, ev.RawOutput) and event.step <= complete) or isinstance(
            event, ev.Compaction
        ):
            turns.append(event.raw)
    return turns


def write_turns(path: Path, turns: list[str]) -> None:
    path.write_text("".join(json.dumps({"raw": raw}, ensure_ascii=False) + "\n" for raw in turns))


def render_for_cache(request: ChatRequest) -> str:
    """The request in the chat format's order, for prefix comparison only."""
    parts = [request.system, json.dumps(request.tools, sort_keys=True), request.effort]
    for m in request.messages:
        calls = [[c.name, c.arguments] for c in m.tool_calls]
        parts.append(json.dumps([m.role, m.thinking, m.content, calls, m.tool_call_id]))
    return "\x00".join(parts)


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ReplayBackend:
    def __init__(self, turns: list[ReplayTurn], source: str = "replay", chunk: int = CHUNK_CHARS):
        self.name = f"replay:{source}"
        self.turns = turns
        self.position = 0
        self.chunk = chunk
        self._previous = ""
        self._cancelled = False

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayBackend:
        return cls(load_turns(Path(path)), str(path))

    def skip(self, turns: int) -> None:
        """Start later in the file: a resumed session has already used these turns."""
        self.position = min(len(self.turns), self.position + turns)

    async def cancel(self) -> None:
        self._cancelled = True

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        if self.position >= len(self.turns):
            raise ReplayExhausted(
                f"the replay file {self.name.removeprefix('replay:')} has no turn left: it holds "
                f"{len(self.turns)} turn(s) and the session asked for turn {self.position + 1}"
            )
        turn = self.turns[self.position]
        self.position += 1
        self._cancelled = False
        rendered = render_for_cache(request)
        prompt = len(rendered) // CHARS_PER_TOKEN
        cached = _common_prefix(rendered, self._previous) // CHARS_PER_TOKEN
        self._previous = rendered
        parser = RawOutputParser()
        saw_call = False
        for start in range(0, len(turn.raw), self.chunk):
            if self._cancelled:
                yield UsageDelta(prompt, cached, start // CHARS_PER_TOKEN)
                yield FinishDelta("cancelled", turn.raw[:start])
                return
            for delta in parser.feed(turn.raw[start : start + self.chunk]):
                saw_call = saw_call or isinstance(delta, ToolCallDelta)
                yield delta
        for delta in parser.close():
            saw_call = saw_call or isinstance(delta, ToolCallDelta)
            yield delta
        completion = max(1, len(turn.raw) // CHARS_PER_TOKEN)
        yield UsageDelta(prompt, cached, completion)
        yield FinishDelta("tool_calls" if saw_call else "stop", turn.raw)
