"""A persistent per-repository cache of file tags, refreshed incrementally.

One pickle per repository under `<cache dir>/tags/`. An entry is reused when the file's
size and mtime are unchanged; when they changed, the content hash decides; only files
whose content changed are parsed again. Cold runs parse in a pool of worker processes.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.atomic import write_atomically
from tools.codeintel.discover import is_vendored
from tools.codeintel.languages import language_for_path
from tools.codeintel.tags import EMPTY, FileTags, extract_tags, has_tag_support
from tools.listing import trusted_mtime

CACHE_VERSION = 4
# Larger files are listed by name only: generated or vendored code, slow to parse.
MAX_PARSE_BYTES = 1024 * 1024
# Below this many files to parse, a worker pool costs more than it saves.
POOL_THRESHOLD = 64


@dataclass
class Entry:
    size: int
    mtime_ns: int
    sha256: str
    tags: FileTags


@dataclass
class CacheStats:
    parsed: int = 0  # files read and parsed this refresh
    hashed: int = 0  # files whose stat changed but whose content did not
    reused: int = 0  # files whose size and mtime matched the cache
    removed: int = 0  # cache entries for files that are gone
    loaded_from_disk: bool = False
    unreadable: list[str] = field(default_factory=list)  # parseable files that could not be read


@dataclass
class TagCache:
    """Tags for one repository. `cache_dir` None keeps it in memory only."""

    repo: Path
    cache_dir: Path | None = None
    entries: dict[str, Entry] = field(default_factory=dict)
    # Token counts of rendered map lines, kept with the tags so warm maps need no tokenizer.
    token_counts: dict[str, int] = field(default_factory=dict)
    # Results computed from all the tags (the reference graph), keyed by `fingerprint()`.
    derived: dict[str, Any] = field(default_factory=dict)
    stats: CacheStats = field(default_factory=CacheStats)
    workers: int | None = None
    _dirty: bool = False

    def __post_init__(self) -> None:
        self.repo = Path(self.repo).resolve()
        self._load()

    @property
    def file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(str(self.repo).encode()).hexdigest()[:16]
        return Path(self.cache_dir) / "tags" / f"{self.repo.name}-{digest}.pickle"

    def refresh(
        self, paths: Iterable[str], while_parsing: Callable[[], object] | None = None
    ) -> dict[str, FileTags]:
        """Tags for each parseable path (relative, POSIX); others are left out.

        `while_parsing` runs once a worker pool has started (never before the fork).
        """
        self.stats = CacheStats(loaded_from_disk=self.stats.loaded_from_disk)
        supported: dict[str | None, bool] = {}
        wanted = []
        for rel in paths:
            language = language_for_path(rel)
            if language not in supported:
                supported[language] = has_tag_support(language)
            if supported[language] and not is_vendored(rel):
                wanted.append(rel)
        to_parse: list[str] = []
        base = str(self.repo)
        for rel in wanted:
            try:
                st = os.stat(os.path.join(base, rel))
            except OSError:
                self.stats.unreadable.append(rel)
                continue
            entry = self.entries.get(rel)
            if entry is not None and entry.size == st.st_size and entry.mtime_ns == st.st_mtime_ns:
                self.stats.reused += 1
                continue
            if entry is not None and st.st_size <= MAX_PARSE_BYTES:
                try:
                    digest = hashlib.sha256((self.repo / rel).read_bytes()).hexdigest()
                except OSError:
                    self.stats.unreadable.append(rel)
                    continue
                if digest == entry.sha256:
                    entry.size, entry.mtime_ns = st.st_size, trusted_mtime(st.st_mtime_ns)
                    self.stats.hashed += 1
                    self._dirty = True
                    continue
            to_parse.append(rel)
        parsed = self._parse(to_parse, while_parsing)
        for rel, entry in parsed:
            self.entries[rel] = entry
        read = {rel for rel, _ in parsed}
        self.stats.unreadable += [rel for rel in to_parse if rel not in read]
        self.stats.parsed = len(to_parse)
        keep = set(wanted)
        gone = [rel for rel in self.entries if rel not in keep]
        for rel in gone:
            del self.entries[rel]
        self.stats.removed = len(gone)
        self._dirty = self._dirty or bool(to_parse or gone)
        return {rel: self.entries[rel].tags for rel in wanted if rel in self.entries}

    def save(self) -> None:
        """Write the cache if it changed (atomically: readers never see half a file)."""
        target = self.file
        if target is None or not self._dirty:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": CACHE_VERSION,
            "repo": str(self.repo),
            "entries": {
                rel: (e.size, e.mtime_ns, e.sha256, e.tags) for rel, e in self.entries.items()
            },
            "token_counts": self.token_counts,
            "derived": self.derived,
        }
        blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        write_atomically(target, blob, mode=0o600, durable=False)  # a cache: rebuilt if lost
        self._dirty = False

    def mark_dirty(self) -> None:
        self._dirty = True

    def fingerprint(self, rels: Iterable[str]) -> str:
        """Identifies the content of these files: equal fingerprints, equal tags."""
        digest = hashlib.sha256()
        for rel in rels:
            digest.update(f"{rel}\0{self.entries[rel].sha256}\n".encode())
        return digest.hexdigest()

    def _load(self) -> None:
        target = self.file
        if target is None or not target.exists():
            return
        try:
            with open(target, "rb") as handle:
                payload = pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return  # a damaged or outdated cache is rebuilt, not fatal
        if payload.get("version") != CACHE_VERSION or payload.get("repo") != str(self.repo):
            return
        self.entries = {rel: Entry(*values) for rel, values in payload["entries"].items()}
        self.token_counts = payload.get("token_counts", {})
        self.derived = payload.get("derived", {})
        self.stats.loaded_from_disk = True

    def _parse(
        self, rels: list[str], while_parsing: Callable[[], object] | None
    ) -> list[tuple[str, Entry]]:
        if not rels:
            return []
        workers = self.workers or _available_cores()
        if workers < 2 or len(rels) < POOL_THRESHOLD:
            return _tag_files(str(self.repo), rels)
        return _parse_in_pool(str(self.repo), rels, workers, while_parsing)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parse_in_pool(
    repo: str, rels: list[str], workers: int, while_parsing: Callable[[], object] | None
) -> list[tuple[str, Entry]]:
    import multiprocessing

    # Big files first, dealt round-robin, so every chunk carries a similar load.
    by_size = sorted(rels, key=lambda rel: _size(repo, rel), reverse=True)
    n_chunks = workers * 4
    chunks = [by_size[i::n_chunks] for i in range(n_chunks) if by_size[i::n_chunks]]
    context = multiprocessing.get_context(_start_method())
    results: list[tuple[str, Entry]] = []
    with context.Pool(workers) as pool:
        if while_parsing is not None:
            while_parsing()
        for chunk_result in pool.imap_unordered(_tag_chunk, [(repo, c) for c in chunks]):
            results.extend(chunk_result)
    return results


def _start_method() -> str | None:
    """fork when this process is single-threaded (the `tessera map` case): workers start
    at once with the grammars loaded. Forking a process that runs other threads (the
    agent, with its UI and engine) can deadlock a child, so then a fork server."""
    if not sys.platform.startswith("linux"):
        return None
    return "fork" if threading.active_count() == 1 else "forkserver"


def _tag_chunk(job: tuple[str, list[str]]) -> list[tuple[str, Entry]]:
    return _tag_files(*job)


def _tag_files(repo: str, rels: list[str]) -> list[tuple[str, Entry]]:
    out: list[tuple[str, Entry]] = []
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
        out.append((rel, Entry(st.st_size, trusted_mtime(st.st_mtime_ns), digest, tags)))
    return out


def _size(repo: str, rel: str) -> int:
    try:
        return os.stat(os.path.join(repo, rel)).st_size
    except OSError:
        return 0
