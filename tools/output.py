"""Bounding text that goes to the model or the screen: keep the head and the tail."""

from __future__ import annotations

TRUNCATION_MARKER = (
    "\n[... {omitted} bytes omitted of {total}; showing first {head} and last {tail} ...]\n"
)


def bound_text(data: bytes | str, limit: int) -> tuple[str, bool]:
    """Return at most ~`limit` bytes of `data` as text, keeping its head and tail.

    The marker says how much was cut, so neither the model nor a person mistakes a
    truncated log for a complete one. Returns (text, truncated).
    """
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace"), False
    head = limit // 2
    tail = limit - head
    marker = TRUNCATION_MARKER.format(
        omitted=len(raw) - head - tail, total=len(raw), head=head, tail=tail
    )
    first = raw[:head].decode("utf-8", "ignore")
    last = raw[len(raw) - tail :].decode("utf-8", "ignore")
    return first + marker + last, True


class HeadTailBuffer:
    """Collects a stream of bytes but remembers only its first and last `limit/2` bytes.

    Used while a command runs, so that `yes` or a 100 MB line never holds more than
    `limit` bytes in memory.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        if not self.truncated:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace")
        marker = TRUNCATION_MARKER.format(
            omitted=self.total - len(self.head) - len(self.tail),
            total=self.total,
            head=len(self.head),
            tail=len(self.tail),
        )
        return bytes(self.head).decode("utf-8", "ignore") + marker + bytes(self.tail).decode(
            "utf-8", "ignore"
        )
