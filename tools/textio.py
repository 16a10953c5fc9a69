"""Reading and writing text files without changing bytes nobody asked to change.

A file's encoding (UTF-8, UTF-8 with BOM, UTF-16 with BOM, or Latin-1 as the fallback
that round-trips any byte) is detected on read and reused on write, so an edit touches
only the bytes it replaces. Writes are atomic: a temporary file in the same directory,
fsync, then os.replace, so a crash or a full disk never leaves half a file
(`write_atomically`, the one atomic write, also used outside the file tools).
"""

from __future__ import annotations

import contextlib
import glob
from dataclasses import dataclass
from pathlib import Path

from tools.atomic import write_atomically
from tools.base import ToolError

# Bytes that do not occur in text: C0 controls other than \t \n \v \f \r and ESC.
_CONTROL_BYTES = bytes(set(range(0x20)) - {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B}) + b"\x7f"
# A Latin-1 file with more of these than this share is more likely binary than text.
_MAX_CONTROL_SHARE = 0.01

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


@dataclass(frozen=True)
class Encoding:
    codec: str
    bom: bytes = b""

    @property
    def label(self) -> str:
        return f"{self.codec} with BOM" if self.bom else self.codec


UTF8 = Encoding("utf-8")


class BinaryFileError(ToolError):
    """The file is not text; file tools refuse it rather than mangle it."""


@dataclass(frozen=True)
class TextFile:
    text: str  # exactly as in the file: line endings are not normalised
    encoding: Encoding

    @property
    def newline(self) -> str:
        """The file's dominant line ending, used for lines an edit adds."""
        crlf = self.text.count("\r\n")
        return "\r\n" if crlf and crlf >= self.text.count("\n") - crlf else "\n"


def decode(data: bytes, name: str) -> TextFile:
    """Decode file bytes; raises BinaryFileError for binary content."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return TextFile(data[len(bom) :].decode(codec), Encoding(codec, bom))
            except UnicodeDecodeError as exc:
                raise BinaryFileError(
                    f"{name} starts with a {codec} byte-order mark but is not valid {codec} "
                    f"(byte {exc.start + len(bom)}); refusing to treat it as text"
                ) from exc
    if b"\x00" in data:
        raise BinaryFileError(f"{name} is a binary file (it contains NUL bytes)")
    try:
        return TextFile(data.decode("utf-8"), UTF8)
    except UnicodeDecodeError:
        pass
    controls = sum(data.count(b) for b in _CONTROL_BYTES)
    if controls > _MAX_CONTROL_SHARE * len(data):
        raise BinaryFileError(f"{name} is a binary file (not UTF-8, and full of control bytes)")
    return TextFile(data.decode("latin-1"), Encoding("latin-1"))


def encode(text: str, encoding: Encoding, name: str) -> bytes:
    try:
        return encoding.bom + text.encode(encoding.codec)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise ToolError(
            f"{name} is encoded as {encoding.label}, which cannot hold {bad!r} "
            f"(character {exc.start}); use characters that encoding supports"
        ) from exc


def read_text(path: Path, name: str) -> TextFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ToolError(f"cannot read {name}: {exc.strerror or exc}") from exc
    return decode(data, name)


def looks_binary(head: bytes) -> bool:
    """Quick check on the start of a file too large to decode whole."""
    if any(head.startswith(bom) for bom, _ in _BOMS[1:]):
        return False
    return b"\x00" in head


def atomic_write(path: Path, data: bytes, name: str) -> bool:
    """`write_atomically` for the file tools: errors as ToolError naming the file, and
    no stale bytecode left for a Python file. Returns True when the file was created."""
    try:
        created = write_atomically(path, data)
    except OSError as exc:
        raise ToolError(f"cannot write {name}: {exc.strerror or exc}") from exc
    _drop_stale_bytecode(path)
    return created


def _drop_stale_bytecode(path: Path) -> None:
    """Remove the cached bytecode of a Python file just written.

    Python (and pytest's assertion rewriting) trusts a `.pyc` whose recorded source mtime,
    in whole seconds, and size match the source. An edit of the same size within the
    second the source was last written (`a - b` → `a + b`) would otherwise run the old
    code: a test run right after a fix would still fail.
    """
    if path.suffix not in (".py", ".pyw"):
        return
    cache = path.parent / "__pycache__"
    for compiled in cache.glob(f"{glob.escape(path.stem)}.*.pyc"):
        with contextlib.suppress(OSError):
            compiled.unlink()
