"""Images a user attaches to a message: `tessera run --image PATH`, the TUI's `/image
PATH`, or image paths typed in a chat message.

Each is validated and stored by content hash (tools/images.attach_image); a message
event carries the stored image's description (sha256, path, width, height, tokens,
source_format), the history turns it into an image chunk before the message's text,
and its tokens count in the context budget.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
_CANDIDATE_RE = re.compile(r"""(?:"([^"]+)"|'([^']+)'|(\S+))""")  # quoted, or a word


class AttachmentError(ValueError):
    """An attachment that is not a readable image of a supported kind and size."""


def attach(paths: list[Path] | list[str], data_dir: Path | None) -> list[dict[str, Any]]:
    """Validate and store each image; the descriptions a message event carries."""
    from tools.base import ToolError
    from tools.images import attach_image

    attached = []
    for path in paths:
        try:
            attached.append(attach_image(path, data_dir).as_data()["image"])
        except ToolError as exc:
            raise AttachmentError(str(exc)) from exc
    return attached


def image_paths_in(text: str, base: Path) -> list[Path]:
    """Existing image files named in a chat message (quoted or not; `~` and paths relative
    to `base` allowed), in order and without repeats."""
    found: list[Path] = []
    for match in _CANDIDATE_RE.finditer(text):
        word = next(group for group in match.groups() if group is not None)
        word = word.rstrip(".,;:!?)").lstrip("(")
        if not word.lower().endswith(IMAGE_SUFFIXES):
            continue
        path = Path(word).expanduser()
        path = path if path.is_absolute() else base / path
        if path.is_file() and path.resolve() not in found:
            found.append(path.resolve())
    return found
