"""Big pastes as chips in the message box, and pasted image files as attachments.

A paste of more than `CHIP_MIN_LINES` lines would bury the box; it goes in as one
chip, `[pasted 240 lines]`, the text kept aside whole. Sending expands every chip back to
exactly what was pasted; ctrl+l expands them in the box, to read or edit. A chip the
person edited away is simply gone (what is left of it is sent as typed).

A paste that is nothing but paths of existing image files (as terminals paste a file
dragged or copied from a file manager: plain, quoted, backslash-escaped or a
`file://` URI) is an attachment, not text.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import unquote, urlparse

from agent.attachments import IMAGE_SUFFIXES

CHIP_MIN_LINES = 6


class PastedChips:
    """The chips in one message box: label → the pasted text."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def make(self, text: str) -> str:
        """The chip's label for `text`, remembered until the message is sent."""
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        label = f"[pasted {lines} lines]"
        number = 2
        while label in self.texts:
            label = f"[pasted {lines} lines #{number}]"
            number += 1
        self.texts[label] = text
        return label

    def expand(self, box_text: str) -> str:
        """`box_text` with each chip still in it replaced by its text (once each)."""
        if not self.texts:
            return box_text
        pattern = re.compile("|".join(re.escape(label) for label in self.texts))
        used: set[str] = set()

        def swap(match: re.Match[str]) -> str:
            label = match.group(0)
            if label in used:
                return label
            used.add(label)
            return self.texts[label]

        return pattern.sub(swap, box_text)

    def clear(self) -> None:
        self.texts.clear()


def is_big(text: str) -> bool:
    return text.rstrip("\n").count("\n") + 1 >= CHIP_MIN_LINES


def pasted_image_files(text: str, base: Path | None) -> list[Path]:
    """The image files a paste names, if naming them is all it does; else []."""
    words: list[str] = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("file://"):
            words.append(unquote(urlparse(line).path))
            continue
        try:
            words += shlex.split(line)  # quotes and `my\ shot.png` as a shell would
        except ValueError:
            return []
    if not words:
        return []
    paths = []
    for word in words:
        path = Path(word).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not (word.lower().endswith(IMAGE_SUFFIXES) and path.is_file()):
            return []
        paths.append(path)
    return paths
