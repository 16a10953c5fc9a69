"""Parsing files into tags, in a pool of worker processes when there are many.

Results come back a batch at a time, so the cache takes them in as they arrive (and
can say how far it is) instead of holding the whole repository's results first.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tools.codeintel.tags import EMPTY, FileTags, extract_tags
from tools.listing import trusted_mtime

# Larger files are listed by name only: generated or vendored code, slow to parse.
MAX_PARSE_BYTES = 1024 * 1024
# Below this many files to parse, a worker pool costs more than it saves.
POOL_THRESHOLD = 64
# Files per batch handed to a worker (and per progress report).
BATCH_FILES = 32


@dataclass
class Entry:
    size: int
    mtime_ns: int
    sha256: str


# A file parsed: its path, cache entry and tags.
Parsed = tuple[str, Entry, FileTags]


def parse_files(
    repo: str, rels: list[str], workers: int | None, while_parsing: Callable[[], object] | None
) -> Iterator[list[Parsed]]:
    """Parsed files, a batch at a time, in no particular order; one worker per core
    unless `workers` says otherwise. A file that cannot be read is left out."""
    if not rels:
        return iter(())
    workers = workers or _available_cores()
    if workers < 2 or len(rels) < POOL_THRESHOLD:
        batches = [rels[i : i + BATCH_FILES] for i in range(0, len(rels), BATCH_FILES)]
        return (_tag_files(repo, batch) for batch in batches)
    return _parse_in_pool(repo, rels, workers, while_parsing)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parse_in_pool(
    repo: str, rels: list[str], workers: int, while_parsing: Callable[[], object] | None
) -> Iterator[list[Parsed]]:
    """One worker per core; small batches, biggest files first, so the cores finish
    together and results (and progress) come back steadily."""
    import multiprocessing

    by_size = sorted(rels, key=lambda rel: _size(repo, rel), reverse=True)
    batches = [(repo, by_size[i : i + BATCH_FILES]) for i in range(0, len(by_size), BATCH_FILES)]
    context = multiprocessing.get_context(_start_method())
    with context.Pool(workers) as pool:
        if while_parsing is not None:
            while_parsing()
        yield from pool.imap_unordered(_tag_chunk, batches)


def _start_method() -> str | None:
    """fork when this process is single-threaded (the `tessera map` case): workers start
    at once with the grammars loaded. Forking a process that runs other threads (the
    agent, with its UI and engine) can deadlock a child, so then a fork server."""
    if not sys.platform.startswith("linux"):
        return None
    return "fork" if threading.active_count() == 1 else "forkserver"


def _tag_chunk(job: tuple[str, list[str]]) -> list[Parsed]:
    return _tag_files(*job)


def _tag_files(repo: str, rels: list[str]) -> list[Parsed]:
    out: list[Parsed] = []
    for rel in rels:
        path = os.path.join(repo, rel)
        try:
            st = os.stat(path)
            if st.st_size > MAX_PARSE_BYTES:
                source = b""
            else:
                with open(path, "rb") as handle:
                    source = handle.read()
        except OSError:
            continue
        tags = extract_tags(rel, source) if source else EMPTY
        digest = hashlib.sha256(source).hexdigest()
        out.append((rel, Entry(st.st_size, trusted_mtime(st.st_mtime_ns), digest), tags))
    return out


def _size(repo: str, rel: str) -> int:
    try:
        return os.stat(os.path.join(repo, rel)).st_size
    except OSError:
        return 0
