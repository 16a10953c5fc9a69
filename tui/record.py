"""The base of every transcript record: what tui/records.py and tui/step_records.py make
from events, and tui/widgets/blocks.py shows (one entry kind per record kind)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(eq=False)
class Record:
    kind: ClassVar[str] = "record"
