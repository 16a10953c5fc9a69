"""Raw model output → events, incrementally, whatever the chunking.

The model's turn (everything after `[/INST]`), with special tokens rendered as text:

    [THINK]reasoning[/THINK]answer text[TOOL_CALLS]name[ARGS]{"json": 1}[TOOL_CALLS]…</s>

`StreamParser.feed(chunk)` returns the events the chunk completes; `finish()` the rest. Text and
thinking come out as deltas as soon as they cannot be the start of a marker; a tool call comes
out whole once its JSON object closes. Splitting the same output into different chunks gives the
same events up to how deltas are split (`coalesce` merges neighbours). Malformed output becomes
a `ParseError` event with a precise message; no exception leaves the parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

THINK, END_THINK, TOOL_CALLS, ARGS, EOS = "[THINK]", "[/THINK]", "[TOOL_CALLS]", "[ARGS]", "</s>"
MARKERS = (THINK, END_THINK, TOOL_CALLS, ARGS, EOS)
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    index: int  # 0, 1, … within the turn
    name: str
    arguments: dict[str, Any]
    raw_arguments: str  # the JSON text exactly as the model wrote it


@dataclass(frozen=True)
class ParseError:
    message: str
    raw: str = ""  # the offending piece of output


@dataclass(frozen=True)
class EndOfTurn:
    """The model emitted `</s>`."""


Event = TextDelta | ThinkingDelta | ToolCallEvent | ParseError | EndOfTurn


@dataclass
class _JsonScan:
    """Where a JSON value ends: depth of brackets outside strings."""

    depth: int = 0
    in_string: bool = False
    escaped: bool = False
    started: bool = False

    def step(self, ch: str) -> bool:
        """Consume one character; True when it closes the top-level value."""
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = False
            return False
        if ch == '"':
            self.in_string = True
        elif ch in "{[":
            self.depth += 1
            self.started = True
        elif ch in "}]":
            self.depth -= 1
            return self.started and self.depth == 0
        return False


@dataclass
class StreamParser:
    """Feed chunks of one assistant turn. `known_tools`: names a call may use (None: any)."""

    known_tools: Sequence[str] | None = None
    _buffer: str = ""
    _state: str = "text"  # text | thinking | name | args | bad_args | after_call | ended
    _name: str = ""
    _args: str = ""
    _scan: _JsonScan = field(default_factory=_JsonScan)
    _calls: int = 0
    _stray: str = ""
    _finished: bool = False

    def feed(self, chunk: str) -> list[Event]:
        if self._finished:
            return [ParseError("output fed after finish()", chunk)]
        self._buffer += chunk
        return self._drain(final=False)

    def finish(self) -> list[Event]:
        if self._finished:
            return []
        events = self._drain(final=True)
        if self._state in ("bad_args", "after_call") and (self._args or self._stray):
            events.extend(getattr(self, f"_in_{self._state}")(True))  # flush what waited
        self._finished = True
        if self._state == "thinking":
            events.append(ParseError("output ended inside [THINK] (no [/THINK])"))
        elif self._state == "name":
            events.append(ParseError(f"truncated tool call: name {self._name!r} without [ARGS]",
                                     TOOL_CALLS + self._name))
        elif self._state == "args":
            events.append(ParseError(
                f"truncated tool call {self._name!r}: arguments end after "
                f"{len(self._args)} characters without closing the JSON object",
                self._args))
        return events

    # -----------------------------------------------------------------------------------------

    def _drain(self, final: bool) -> list[Event]:
        events: list[Event] = []
        while self._buffer:
            before = (self._state, len(self._buffer))
            handler = getattr(self, f"_in_{self._state}")
            events.extend(handler(final))
            if (self._state, len(self._buffer)) == before:
                break  # waiting for more input
        return events

    def _split_marker(self, final: bool) -> tuple[str, str | None]:
        """(plain text before the first marker, that marker or None). Without a marker, keep
        back a tail that could still grow into one, unless this is the final drain."""
        starts = [(self._buffer.find(m), m) for m in MARKERS]
        found = [(pos, m) for pos, m in starts if pos >= 0]
        if found:
            pos, marker = min(found)
            plain = self._buffer[:pos]
            self._buffer = self._buffer[pos + len(marker):]
            return plain, marker
        keep = 0 if final else _partial_marker_length(self._buffer)
        plain = self._buffer[:len(self._buffer) - keep]
        self._buffer = self._buffer[len(plain):]
        return plain, None

    def _in_text(self, final: bool) -> list[Event]:
        plain, marker = self._split_marker(final)
        events: list[Event] = [TextDelta(plain)] if plain else []
        if marker == THINK:
            self._state = "thinking"
        elif marker == TOOL_CALLS:
            self._start_call()
        elif marker == EOS:
            events.append(EndOfTurn())
            self._state = "ended"
        elif marker is not None:
            events.append(ParseError(f"unexpected {marker} in text", marker))
        return events

    def _in_thinking(self, final: bool) -> list[Event]:
        plain, marker = self._split_marker(final)
        events: list[Event] = [ThinkingDelta(plain)] if plain else []
        if marker == END_THINK:
            self._state = "text"
        elif marker is not None:
            events.append(ParseError(f"unexpected {marker} inside [THINK]…[/THINK]", marker))
            if marker == EOS:
                events.append(EndOfTurn())
                self._state = "ended"
        return events

    def _start_call(self) -> None:
        self._state, self._name, self._args, self._scan = "name", "", "", _JsonScan()

    def _in_name(self, final: bool) -> list[Event]:
        plain, marker = self._split_marker(final)
        self._name += plain
        if marker is None:
            return []
        if marker != ARGS:
            name, self._name = self._name, ""
            self._state = "text"
            error = ParseError(f"tool call {name!r} has no [ARGS] before {marker}",
                               TOOL_CALLS + name + marker)
            self._buffer = marker + self._buffer  # let the text state handle the marker
            return [error]
        self._state = "args"
        return []

    def _in_args(self, final: bool) -> list[Event]:
        for position, ch in enumerate(self._buffer):
            if not self._scan.started and not ch.isspace() and ch not in "{[":
                self._buffer = self._buffer[position:]
                self._state = "bad_args"
                return []
            if not self._scan.in_string and ch in "[<":
                rest = self._buffer[position:]
                marker = next((m for m in MARKERS if rest.startswith(m)), None)
                if marker is not None:  # a special token: the arguments were cut off
                    self._buffer = rest
                    self._state = "after_call"
                    self._calls += 1
                    return [ParseError(f"tool call {self._name.strip()!r}: {marker} before its "
                                       "arguments closed", self._args)]
                if not final and any(m.startswith(rest) for m in MARKERS):
                    self._buffer = rest  # maybe the start of a marker: wait for more
                    return []
            self._args += ch
            if self._scan.step(ch):
                self._buffer = self._buffer[position + 1:]
                self._state = "after_call"
                return [self._complete_call()]
        self._buffer = ""
        return []

    def _in_bad_args(self, final: bool) -> list[Event]:
        # Arguments that do not start with an object: collect up to the next marker, then report.
        plain, marker = self._split_marker(final)
        self._args += plain
        if marker is None and not final:
            return []
        if marker is not None:
            self._buffer = marker + self._buffer
        self._state = "after_call"
        self._calls += 1
        return [ParseError(f"tool call {self._name.strip()!r}: arguments must be a JSON object, "
                           f"got {self._args.strip()[:40]!r}", self._args)]

    def _complete_call(self) -> Event:
        name, raw = self._name.strip(), self._args
        index = self._calls
        self._calls += 1
        if not _TOOL_NAME.fullmatch(name):
            return ParseError(f"tool call {index}: invalid tool name {name!r}", name)
        if self.known_tools is not None and name not in self.known_tools:
            known = ", ".join(self.known_tools) or "none"
            return ParseError(f"unknown tool {name!r} (known: {known})", name)
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError as exc:
            return ParseError(f"tool call {name!r}: arguments are not valid JSON: {exc.msg} "
                              f"at character {exc.pos}", raw)
        if not isinstance(arguments, dict):
            return ParseError(f"tool call {name!r}: arguments must be a JSON object", raw)
        return ToolCallEvent(index, name, arguments, raw)

    def _in_after_call(self, final: bool) -> list[Event]:
        plain, marker = self._split_marker(final)
        self._stray += plain
        if marker is None and not final:
            return []  # stray text is reported whole, once its end is known
        events: list[Event] = []
        stray, self._stray = self._stray, ""
        stripped = stray.strip()
        if stripped and marker is None and any(m.startswith(stripped) for m in MARKERS):
            events.append(ParseError(f"truncated output: ends inside a special token after a "
                                     f"tool call ({stripped!r})", stray))
        elif stripped:
            events.append(ParseError("text after a tool call (only another [TOOL_CALLS] or "
                                     "</s> may follow)", stray))
        if marker == TOOL_CALLS:
            self._start_call()
        elif marker == EOS:
            events.append(EndOfTurn())
            self._state = "ended"
        elif marker is not None:
            events.append(ParseError(f"unexpected {marker} after a tool call", marker))
        return events

    def _in_ended(self, final: bool) -> list[Event]:
        # Collect everything after </s> and report it once, at finish(), so the event does not
        # depend on how that output was chunked.
        if not final:
            return []
        rest, self._buffer = self._buffer, ""
        return [ParseError("output after </s>", rest)]


def _partial_marker_length(text: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of some marker."""
    longest = 0
    for marker in MARKERS:
        for size in range(1, len(marker)):
            if text.endswith(marker[:size]):
                longest = max(longest, size)
    return longest


def parse(chunks: Iterable[str], known_tools: Sequence[str] | None = None) -> list[Event]:
    """All events of a complete output given as chunks."""
    parser = StreamParser(known_tools)
    events: list[Event] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events + parser.finish()


def coalesce(events: Iterable[Event]) -> list[Event]:
    """Merge neighbouring text deltas and neighbouring thinking deltas."""
    merged: list[Event] = []
    for event in events:
        if merged and type(event) in (TextDelta, ThinkingDelta) and type(merged[-1]) is type(event):
            merged[-1] = type(event)(merged[-1].text + event.text)  # type: ignore[union-attr]
        else:
            merged.append(event)
    return merged


def decode_with_specials(tokenizer: Any, token_ids: Sequence[int]) -> str:
    """Token ids → the text this parser reads (special tokens kept as their strings)."""
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

    raw = tokenizer.instruct_tokenizer.tokenizer
    return raw.decode(list(token_ids), special_token_policy=SpecialTokenPolicy.KEEP)
