"""Raw model output → backend deltas, through the model's own streaming parser.

Every backend that sees raw output (the replay backend now, the local engine later) goes
through here, so they all read the chat format the same way. The parser itself is
model/stream_parser.py; this only maps its events onto the Backend protocol's deltas.
"""

from __future__ import annotations

from agent.backend import Delta, MalformedDelta, TextDelta, ThinkingDelta, ToolCallDelta
from model import stream_parser as sp


class RawOutputParser:
    def __init__(self) -> None:
        # Tool names are checked by the loop, which can then answer the call itself.
        self._parser = sp.StreamParser(known_tools=None)

    def feed(self, chunk: str) -> list[Delta]:
        return _deltas(self._parser.feed(chunk))

    def close(self) -> list[Delta]:
        return _deltas(self._parser.finish())


def _deltas(events: list[sp.Event]) -> list[Delta]:
    out: list[Delta] = []
    for event in events:
        match event:
            case sp.TextDelta(text=text):
                out.append(TextDelta(text))
            case sp.ThinkingDelta(text=text):
                out.append(ThinkingDelta(text))
            case sp.ToolCallEvent(index=index, name=name, raw_arguments=raw):
                out.append(ToolCallDelta(index, name, raw))
            case sp.ParseError(message=message, raw=raw):
                out.append(MalformedDelta(message, raw))
            case sp.EndOfTurn():
                pass
    return out
