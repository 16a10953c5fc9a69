"""A persistent per-repository cache of file tags, refreshed incrementally.

Pickles per repository under `<cache dir>/tags/`: an index read by every map, and
the tags and large derived results beside it, read when needed (see TagCache). An
entry is reused when the file's size and mtime are unchanged; when they changed, the
content hash decides; only files whose content changed are parsed again (parsing.py:
a pool of worker processes when there are many).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.codeintel.discover import is_vendored
from tools.codeintel.languages import language_for_path
from tools.codeintel.parsing import MAX_PARSE_BYTES, Entry, Parsed, parse_files
from tools.codeintel.tags import FileTags, has_tag_support
from tools.listing import trusted_mtime

__all__ = ["MAX_PARSE_BYTES", "CacheStats", "Entry", "Progress", "TagCache", "TagView"]

CACHE_VERSION = 6
# Told (files parsed so far, files to parse) as batches come in.
Progress = Callable[[int, int], object]


@dataclass
class CacheStats:
    parsed: int = 0  # files read and parsed this refresh
    hashed: int = 0  # files whose stat changed but whose content did not
    reused: int = 0  # files whose size and mtime matched the cache
    removed: int = 0  # cache entries for files that are gone
    loaded_from_disk: bool = False
    unreadable: list[str] = field(default_factory=list)  # parseable files that could not be read
    # The same listing as the last refresh and no content changed: whatever was derived
    # from the files (their fingerprint) still holds.
    unchanged: bool = False


class TagView(Mapping[str, FileTags]):
    """The tags of the files a refresh kept: paths at once, tags read on first use."""

    def __init__(self, cache: TagCache, rels: list[str]) -> None:
        self._cache, self._rels = cache, rels
        self._known = set(rels)

    def __getitem__(self, rel: str) -> FileTags:
        if rel not in self._known:
            raise KeyError(rel)
        return self._cache.tags_of(rel)

    def __contains__(self, rel: object) -> bool:
        return rel in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._rels)

    def __len__(self) -> int:
        return len(self._rels)


@dataclass
class TagCache:
    """Tags for one repository. `cache_dir` None keeps it in memory only.

    On disk, two pickles: the index (each file's size, mtime and hash, the token counts,
    the derived results) read by every map, and the tags, read only when a map needs
    them: a warm map whose result was kept never does.
    """

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
    # rel → tags; None until read from disk. The tags file on disk is `_generation`'s.
    _tags: dict[str, FileTags] | None = None
    _tags_dirty: bool = False
    _generation: str = ""
    # Large results kept beside the index in files of their own (the graph, the ranking:
    # numpy arrays), read only when asked for: see `kept` and `keep`.
    _kept: dict[str, Any] = field(default_factory=dict)
    _kept_dirty: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.repo = Path(self.repo).resolve()
        self._load()
        if self._tags is None and not self.entries:
            self._tags = {}

    @property
    def file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(str(self.repo).encode()).hexdigest()[:16]
        return Path(self.cache_dir) / "tags" / f"{self.repo.name}-{digest}.pickle"

    def refresh(
        self,
        paths: Iterable[str],
        while_parsing: Callable[[], object] | None = None,
        progress: Progress | None = None,
        same_listing: bool = False,
    ) -> TagView:
        """Tags for each parseable path (relative, POSIX); others are left out.

        `while_parsing` runs once a worker pool has started (never before the fork);
        `progress(done, total)` is told how many of the files to parse are done, as
        they come in. Tags go into the cache as each batch arrives: an interrupted
        parse keeps (and saves) what it had. `same_listing` says `paths` is the listing
        the last refresh had, so the parseable ones need not be picked out again.
        """
        self.stats = CacheStats(loaded_from_disk=self.stats.loaded_from_disk)
        kept_wanted = self.derived.get("parseable")
        if same_listing and kept_wanted is not None:
            wanted = kept_wanted
        else:
            wanted = _parseable(paths)
            self.derived["parseable"] = wanted
            self._dirty = True
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
        keep = set(wanted)
        gone = [rel for rel in self.entries if rel not in keep]
        if to_parse or gone:
            self.derived.pop("fingerprint", None)  # kept by the map: no longer the files'
            tags = self._all_tags()
            for rel in gone:
                del self.entries[rel]
                tags.pop(rel, None)
            self._parse_into(to_parse, while_parsing, progress)
        self.stats.parsed = len(to_parse)
        self.stats.removed = len(gone)
        self.stats.unchanged = (
            same_listing and kept_wanted is not None and not (to_parse or gone)
        ) and not self.stats.unreadable
        return TagView(self, [rel for rel in wanted if rel in self.entries])

    def tags_of(self, rel: str) -> FileTags:
        return self._all_tags()[rel]

    def kept(self, name: str) -> Any:
        """What `keep(name, ...)` stored, from this process or an earlier one; None when
        nothing was (or it cannot be read). Callers check it is still current."""
        if name not in self._kept:
            self._kept[name] = self._read_kept(name)
        return self._kept[name]

    def keep(self, name: str, value: Any) -> None:
        self._kept[name] = value
        self._kept_dirty.add(name)

    def save(self) -> None:
        """Write what changed (atomically: readers never see half a file). The tags go
        first, under a new name; the index naming them last, so a reader sees the old
        pair or the new one."""
        target = self.file
        if target is None or not (self._dirty or self._tags_dirty or self._kept_dirty):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        for name in sorted(self._kept_dirty):
            _dump_atomically(self._kept_file(name), self._kept[name])
        self._kept_dirty.clear()
        if not (self._dirty or self._tags_dirty):
            return
        previous = self._generation
        if self._tags_dirty:
            self._generation = os.urandom(8).hex()
            _dump_atomically(self._tags_file(self._generation), self._all_tags())
        payload = {
            "version": CACHE_VERSION,
            "repo": str(self.repo),
            "tags": self._generation,
            "entries": {rel: (e.size, e.mtime_ns, e.sha256) for rel, e in self.entries.items()},
            "token_counts": self.token_counts,
            "derived": self.derived,
        }
        _dump_atomically(target, payload)
        if previous and previous != self._generation:
            with contextlib.suppress(OSError):
                self._tags_file(previous).unlink()
        self._dirty = self._tags_dirty = False

    def mark_dirty(self) -> None:
        self._dirty = True

    def fingerprint(self, rels: Iterable[str]) -> str:
        """Identifies the content of these files: equal fingerprints, equal tags."""
        digest = hashlib.sha256()
        for rel in rels:
            digest.update(f"{rel}\0{self.entries[rel].sha256}\n".encode())
        return digest.hexdigest()

    def _kept_file(self, name: str) -> Path:
        assert self.file is not None
        return self.file.with_name(f"{self.file.stem}.{name}.pickle")

    def _read_kept(self, name: str) -> Any:
        if self.file is None:
            return None
        try:
            with open(self._kept_file(name), "rb") as handle:
                return pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None

    def _tags_file(self, generation: str) -> Path:
        assert self.file is not None
        return self.file.with_name(f"{self.file.stem}-{generation}.tags.pickle")

    def _all_tags(self) -> dict[str, FileTags]:
        """Every entry's tags, read from disk on first use. Tags that cannot be read
        (removed by another process's save, damaged) are parsed again."""
        if self._tags is None:
            self._tags = self._read_tags()
            missing = [rel for rel in self.entries if rel not in self._tags]
            if missing:
                self.derived.pop("fingerprint", None)
            for rel in missing:
                del self.entries[rel]
            self._parse_into(missing, None, None)
        return self._tags

    def _read_tags(self) -> dict[str, FileTags]:
        if not self._generation:
            return {}
        try:
            with open(self._tags_file(self._generation), "rb") as handle:
                tags = pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return {}
        return tags if isinstance(tags, dict) else {}

    def _parse_into(
        self,
        rels: list[str],
        while_parsing: Callable[[], object] | None,
        progress: Progress | None,
    ) -> None:
        tags = self._all_tags() if self._tags is None else self._tags
        read = 0
        try:
            for batch in self._parse(rels, while_parsing):
                for rel, entry, file_tags in batch:
                    self.entries[rel] = entry
                    tags[rel] = file_tags
                read += len(batch)
                self._tags_dirty = self._dirty = True
                if progress is not None:
                    progress(read, len(rels))
        except KeyboardInterrupt:
            self.save()
            raise
        self.stats.unreadable += [rel for rel in rels if rel not in self.entries]

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
        self._generation = payload.get("tags", "")
        self.token_counts = payload.get("token_counts", {})
        self.derived = payload.get("derived", {})
        self.stats.loaded_from_disk = True

    def _parse(
        self, rels: list[str], while_parsing: Callable[[], object] | None
    ) -> Iterator[list[Parsed]]:
        return parse_files(str(self.repo), rels, self.workers, while_parsing)


def _parseable(paths: Iterable[str]) -> list[str]:
    """The paths whose language has tags, less vendored code."""
    supported: dict[str | None, bool] = {}
    wanted = []
    for rel in paths:
        language = language_for_path(rel)
        if language not in supported:
            supported[language] = has_tag_support(language)
        if supported[language] and not is_vendored(rel):
            wanted.append(rel)
    return wanted


def _dump_atomically(target: Path, payload: dict[str, Any]) -> None:
    """Pickle straight into a temporary file beside `target`, then rename it over: the
    cache is never held a second time as one big bytes object, and readers never see
    half a file. Not fsynced: a cache is rebuilt if lost."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
