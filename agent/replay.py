"""`replay:FILE`: a backend that plays back recorded raw model output.

FILE is JSONL, one object per assistant turn: `{"raw": "..."}` holding exactly what the
model emits after `[/INST]` (optional `[THINK]…[/THINK]`, text,
`[TOOL_CALLS]name[ARGS]{json}`…). Each turn is streamed in small chunks through the
same streaming parser the engine path uses (model/stream_parser.py), so the loop cannot
tell a replay from a live model. When the file runs out the session ends with a clear
error. A session's `raw_output` events form such a file again.

A line may carry `"subagent": CALL_ID`: it is then a turn of the subagent that the
parent's call CALL_ID started (the `task` tool, agent/subagents.py), not the parent's.
Each child plays its own lines in order (`for_subagent`), so children that run at the
same time get the same turns whatever the order their requests arrive in.

Usage is simulated honestly enough for budgets and the effort benchmark, with the
model's tokenizer (agent/tokens.py, images included): prompt tokens are the request's
count, and cached tokens the part it shares with the previous request, in the order the
chat format encodes it (system prompt, tools, model settings, then whole messages), so
an effort switch misses the cache for the whole history just as it does on the engine.
Completion tokens are the raw turn's count.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from agent.tokens import TokenCounter

CHUNK_CHARS = 7  # small and odd, so special tokens and JSON are split across chunks


class ReplayExhausted(BackendError):
    pass


@dataclass
class ReplayTurn:
    raw: str
    line: int
    subagent: str | None = None  # the parent call id of the child whose turn it is


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
        subagent = obj.get("subagent")
        if subagent is not None and not isinstance(subagent, str):
            raise BackendUnavailable(f'{path}:{number}: "subagent" must be a call id string')
        turns.append(ReplayTurn(obj["raw"], number, subagent))
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


def subagent_turns(events: list) -> list[tuple[str, str]]:
    """(parent call id, raw turn) of every subagent turn stored in a session, in order."""
    from agent import events as ev

    wrapped = [(e.call_id, e.event) for e in events if isinstance(e, ev.Subagent)]
    return [(call_id, inner["raw"]) for call_id, inner in wrapped
            if inner.get("type") in ("raw_output", "compaction")]


def write_turns(path: Path, turns: list[str],
                subagents: list[tuple[str, str]] | None = None) -> None:
    lines = [{"raw": raw} for raw in turns]
    lines += [{"raw": raw, "subagent": call_id} for call_id, raw in subagents or []]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


def render_for_cache(request: ChatRequest) -> list[str]:
    """The request in the chat format's order, one part per cacheable unit: the prefix
    (system prompt, tools, model settings), then each message (images by path, which
    names their content hash)."""
    parts = [json.dumps([request.system, request.tools, request.effort], sort_keys=True)]
    for m in request.messages:
        calls = [[c.name, c.arguments] for c in m.tool_calls]
        parts.append(json.dumps([m.role, m.thinking, m.content, calls, m.tool_call_id,
                                 m.images]))
    return parts


def _shared_parts(a: list[str], b: list[str]) -> int:
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared


class ReplayBackend:
    def __init__(self, turns: list[ReplayTurn], source: str = "replay", chunk: int = CHUNK_CHARS):
        self.name = f"replay:{source}"
        self.source = source
        self.turns = [t for t in turns if t.subagent is None]
        self._subagent_turns = [t for t in turns if t.subagent is not None]
        self.position = 0
        self.chunk = chunk
        self._previous: list[str] = []
        self._cancelled = False
        self._counter: TokenCounter | None = None

    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            from agent.tokens import default_counter

            self._counter = default_counter()
        return self._counter

    def _prompt_usage(self, request: ChatRequest) -> tuple[int, int]:
        """(prompt tokens, of which cached): whole units shared with the last request."""
        rendered = render_for_cache(request)
        shared = _shared_parts(rendered, self._previous)
        self._previous = rendered
        counter = self.counter
        units = [counter.prefix(request.system, request.tools),
                 *(counter.message(m) for m in request.messages)]
        return sum(units), sum(units[:shared])

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayBackend:
        return cls(load_turns(Path(path)), str(path))

    def for_subagent(self, call_id: str) -> ReplayBackend:
        """A backend playing the turns of the subagent started by call `call_id`."""
        own = [t for t in self._subagent_turns if t.subagent == call_id]
        return ReplayBackend([replace(t, subagent=None) for t in own],
                             f"{self.source} (subagent of call {call_id})", self.chunk)

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
        prompt, cached = self._prompt_usage(request)
        parser = RawOutputParser()
        saw_call = False
        for start in range(0, len(turn.raw), self.chunk):
            if self._cancelled:
                yield UsageDelta(prompt, cached, self.counter.raw_output(turn.raw[:start]))
                yield FinishDelta("cancelled", turn.raw[:start])
                return
            for delta in parser.feed(turn.raw[start : start + self.chunk]):
                saw_call = saw_call or isinstance(delta, ToolCallDelta)
                yield delta
        for delta in parser.close():
            saw_call = saw_call or isinstance(delta, ToolCallDelta)
            yield delta
        completion = self.counter.raw_output(turn.raw)
        yield UsageDelta(prompt, cached, completion)
        yield FinishDelta("tool_calls" if saw_call else "stop", turn.raw)
