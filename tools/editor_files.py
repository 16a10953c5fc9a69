"""Files as an editor holds them: what the file tools read and write through when an
editor drives the session (`tessera acp` with a client that offers `fs/read_text_file`
and `fs/write_text_file`), so the model sees unsaved buffers and its edits land in them.

The file tools keep every other rule (confinement to the repository, the sandbox's say,
the syntax guard, previews for approvals); only where the text comes from and goes to
changes. Without an editor they read and write the disk, as always.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class EditorFileError(Exception):
    """The editor could not read or write a file (its own message, passed on)."""


class EditorFiles(Protocol):
    """An editor's text of files. Called from the tool's worker thread; may block."""

    def read(self, path: Path) -> str | None:
        """The file's text as the editor has it (an unsaved buffer included); None when
        the editor does not read files, so the disk is read instead."""
        ...

    def write(self, path: Path, text: str) -> bool:
        """Hand the new text to the editor; False when it does not write files, so the
        disk is written instead."""
        ...
