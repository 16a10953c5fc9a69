"""The one atomic write: replace a file so that no reader ever sees half of it.

Kept free of heavy imports (no pydantic, no tool protocol): the repo map's caches use it
on the `tessera map` path, the file tools through `tools.textio.atomic_write`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path


def write_atomically(
    path: Path, data: bytes, *, mode: int | None = None, durable: bool = True
) -> bool:
    """Replace `path` with `data` so that no reader ever sees half a file: the one atomic
    write. Returns True when the file was created.

    The bytes go to a temporary file beside `path`, then os.replace. An existing file
    keeps its mode and (where we may) its owner; a new one gets `0o666 & ~umask`, or
    `mode` when given (which also replaces an existing file's mode). Missing parent
    directories are created. `durable` fsyncs the data and the rename, so a crash or
    power loss leaves the old file or the new one; caches that can be rebuilt skip it.
    A symbolic link at `path` is replaced by the file. Raises OSError
    (IsADirectoryError when `path` is a directory or another kind of special file).
    """
    try:
        existing: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        existing = None
    if existing is not None and stat.S_ISLNK(existing.st_mode):
        existing = None  # the link itself is replaced, not the file it points to
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it exists and is not a regular file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short prefix: a long name plus the random part could pass the 255-byte limit.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        elif existing is not None:
            os.chmod(tmp_name, stat.S_IMODE(existing.st_mode))
        else:
            os.chmod(tmp_name, 0o666 & ~current_umask())
        if existing is not None:
            with contextlib.suppress(OSError):  # only root may give a file away
                os.chown(tmp_name, existing.st_uid, existing.st_gid)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    if durable:
        _fsync_dir(path.parent)
    return existing is None


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every file system allows it, hence best-effort.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def current_umask() -> int:
    """The process umask. Reading /proc avoids os.umask's set-and-restore, which races
    with other threads."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    current = os.umask(0o022)
    os.umask(current)
    return current
