"""The repository map the model sees, and find_symbol.

`repo_map` lists the highest-ranked definitions, grouped by file with line numbers and
signatures, as many as fit `max_tokens` counted with the model's tokenizer.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.codeintel.cache import MAX_PARSE_BYTES, Progress, TagCache
from tools.codeintel.discover import list_files
from tools.codeintel.tags import Definition, FileTags
from tools.codeintel.tokens import LineTokenCounter, preload_in_background
from tools.skipped import TOO_LARGE, UNREADABLE, Skipped

if TYPE_CHECKING:
    from tools.codeintel.rank import Graph, Ranking

# Token counts are kept for this many distinct lines; beyond it the memo starts afresh.
TOKEN_MEMO_LIMIT = 200_000
_COUNT_BLOCK = 128

_caches: dict[tuple[Path, Path | None], TagCache] = {}


def tag_cache(repo: Path, cache_dir: Path | None) -> TagCache:
    """The process-wide TagCache for a repository (loaded from disk once)."""
    key = (Path(repo).resolve(), Path(cache_dir).resolve() if cache_dir else None)
    if key not in _caches:
        _caches[key] = TagCache(key[0], key[1])
    return _caches[key]


@dataclass
class RepoMap:
    text: str
    tokens: int
    files: list[str]  # the files shown, best first
    definitions: int  # how many definitions were shown
    stats: dict[str, Any] = field(default_factory=dict)
    skipped: Skipped = field(default_factory=Skipped)  # what was not read, and why


# What the map says of each kind of file it could not read; the note ends its text.
MAP_SKIPS = {
    TOO_LARGE: f"{{count}} {{files}} over {MAX_PARSE_BYTES >> 20} MB not parsed "
    "(their definitions are not in the map)",
    UNREADABLE: "{count} unreadable {paths} not mapped",
}


@dataclass
class _Tagged:
    """What the map and find_symbol both start from."""

    paths: list[str]  # every repository file
    tagged: Mapping[str, FileTags]  # the parseable ones (tags read on first use)
    cache: TagCache
    stats: dict[str, Any]
    skipped: Skipped
    listing: int | None  # which listing of the files this is (None: not kept)


def _scan(
    repo: Path, cache_dir: Path | None, preload_tokenizer: bool, progress: Progress | None = None
) -> _Tagged:
    started = time.perf_counter()
    cache = tag_cache(repo, cache_dir)
    loaded = time.perf_counter()
    walk_memo = cache.derived.setdefault("walk", {})
    previous = walk_memo.get("stamps")
    unreadable: list[str] = []
    paths = list_files(repo, walk_memo, unreadable)
    if walk_memo.get("stamps") is not previous:
        cache.mark_dirty()
    listed = time.perf_counter()
    # A cold cache means a long parse: load the tokenizer meanwhile (threads start after
    # the worker processes fork, inside refresh, so nothing forks mid-load).
    hook = (lambda: preload_in_background(cache.cache_dir)) if preload_tokenizer else None
    same_listing = bool(previous) and walk_memo.get("stamps") is previous
    tagged = cache.refresh(paths, while_parsing=hook, progress=progress, same_listing=same_listing)
    refreshed = time.perf_counter()
    skipped = Skipped()
    for rel in [*unreadable, *cache.stats.unreadable]:
        skipped.add(UNREADABLE, rel)
    for rel in tagged:
        if cache.entries[rel].size > MAX_PARSE_BYTES:
            skipped.add(TOO_LARGE, rel)
    stats = {
        "files": len(paths),
        "parseable": len(tagged),
        "parsed": cache.stats.parsed,
        "rehashed": cache.stats.hashed,
        "reused": cache.stats.reused,
        "removed": cache.stats.removed,
        "load_s": loaded - started,
        "list_s": listed - loaded,
        "refresh_s": refreshed - listed,
    }
    return _Tagged(paths, tagged, cache, stats, skipped, walk_memo.get("listed_at"))


def repo_map(
    repo: str | Path,
    max_tokens: int = 2048,
    focus: Iterable[str] = (),
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> RepoMap:
    """The ranked map of `repo` within `max_tokens`.

    `focus` holds repository paths (files or directories) and identifiers; they seed the
    ranking and their definitions come first. `progress(done, total)` follows the
    parsing of files that are new or changed.
    """
    started = time.perf_counter()
    repo = Path(repo).resolve()
    cache_path = Path(cache_dir) if cache_dir else None
    scan = _scan(repo, cache_path, preload_tokenizer=True, progress=progress)
    files = sorted(scan.tagged)
    index_of = {rel: i for i, rel in enumerate(files)}
    focus_files, focus_names = _resolve_focus(repo, focus, scan.paths, index_of)
    tags = _TagsByIndex(scan.tagged, files)

    ranked_at = time.perf_counter()
    fingerprint = _fingerprint(scan.cache, files)
    focus_key = (sorted(focus_files), sorted(focus_names))
    note = scan.skipped.note(MAP_SKIPS)
    # The same files, listing, focus and budget as the last map: the same map.
    map_key = (fingerprint, focus_key, max_tokens, note, scan.listing)
    kept_map = scan.cache.derived.get("map")
    if scan.listing is not None and kept_map is not None and kept_map[0] == map_key:
        text, total, shown_files, shown_definitions, rank_stats = kept_map[1]
        stats = dict(scan.stats, **rank_stats, ranking="kept map")
        stats.update(rank_s=time.perf_counter() - ranked_at, tokenizer_misses=0)
        stats["total_s"] = time.perf_counter() - started
        scan.cache.save()
        return RepoMap(text, total, shown_files, shown_definitions, stats, scan.skipped)
    ranking, rank_stats = _ranking(scan.cache, fingerprint, files, tags, focus_key)
    rank_s = time.perf_counter() - ranked_at

    memo = scan.cache.token_counts
    if len(memo) > TOKEN_MEMO_LIMIT:
        memo.clear()
    counter = LineTokenCounter(memo, scan.cache.cache_dir)
    note_tokens = sum(counter.counts(note.splitlines())) if note else 0
    # Files without definitions are listed by name after all definitions, best first.
    with_definitions = ranking.with_definitions
    name_only = [
        rel for rel in scan.paths if rel not in index_of or not with_definitions[index_of[rel]]
    ]
    rank_of = {rel: float(ranking.file_rank[i]) for rel, i in index_of.items()}
    name_only.sort(key=lambda rel: -rank_of.get(rel, 0.0))
    budget = max_tokens - note_tokens if note_tokens <= max_tokens else max_tokens
    chosen, chosen_names, total = _fit(files, tags, ranking, name_only, budget, counter)
    text = _render(files, tags, chosen, chosen_names)
    if note and note_tokens <= max_tokens:
        text, total = text + note, total + note_tokens

    shown_files = list(dict.fromkeys([files[f] for f, _ in chosen] + chosen_names))
    rank_stats["definitions_total"] = len(ranking)
    kept_stats = {key: value for key, value in rank_stats.items() if key != "ranking"}
    scan.cache.derived["map"] = (map_key, (text, total, shown_files, len(chosen), kept_stats))
    scan.cache.mark_dirty()
    scan.cache.save()
    stats = dict(scan.stats)
    stats.update(
        rank_s=rank_s,
        **rank_stats,
        tokenizer_misses=counter.misses,
        total_s=time.perf_counter() - started,
    )
    return RepoMap(
        text=text,
        tokens=total,
        files=shown_files,
        definitions=len(chosen),
        stats=stats,
        skipped=scan.skipped,
    )


def _fingerprint(cache: TagCache, files: list[str]) -> str:
    """The files' fingerprint, hashed again only when the refresh saw a change."""
    kept = cache.derived.get("fingerprint")
    if kept is not None and cache.stats.unchanged:
        return kept
    fingerprint = cache.fingerprint(files)
    if fingerprint != kept:
        cache.derived["fingerprint"] = fingerprint
        cache.mark_dirty()
    return fingerprint


class _TagsByIndex(Sequence[FileTags]):
    """Tags by file index, each read from the cache when first asked for."""

    def __init__(self, tagged: Mapping[str, FileTags], files: list[str]) -> None:
        self._tagged, self._files = tagged, files

    def __getitem__(self, index: int) -> FileTags:  # type: ignore[override]
        return self._tagged[self._files[index]]

    def __len__(self) -> int:
        return len(self._files)


def _ranking(
    cache: TagCache,
    fingerprint: str,
    files: list[str],
    tags: Sequence[FileTags],
    focus_key: tuple[list[int], list[str]],
) -> tuple[Ranking, dict[str, Any]]:
    """The ranking for these files and this focus: the last one is kept with the cache,
    so a map of unchanged files with the same focus runs no PageRank at all."""
    from tools.codeintel.rank import rank_definitions  # numpy: not for a kept map

    key = (fingerprint, focus_key)
    kept = cache.kept("ranking")
    if kept is not None and kept[0] == key:
        return kept[1], {**kept[2], "ranking": "kept"}
    graph = _graph(cache, fingerprint, files, tags)
    ranking = rank_definitions(graph, set(focus_key[0]), set(focus_key[1]))
    edges = {"edges": graph.edges, "file_edges": graph.file_edges()}
    cache.keep("ranking", (key, ranking, edges))
    return ranking, {**edges, "ranking": "computed"}


def _graph(
    cache: TagCache, fingerprint: str, files: list[str], tags: Sequence[FileTags]
) -> Graph:
    """The reference graph for these files, rebuilt only when some file's content changed."""
    from tools.codeintel.rank import build_graph

    kept = cache.kept("graph")
    if kept is not None and kept[0] == fingerprint:
        return kept[1]
    graph = build_graph(tags, files)
    cache.keep("graph", (fingerprint, graph))
    return graph


def _resolve_focus(
    repo: Path, focus: Iterable[str], paths: Sequence[str], index_of: dict[str, int]
) -> tuple[set[int], set[str]]:
    focus_files: set[int] = set()
    focus_names: set[str] = set()
    for item in focus:
        item = item.strip()
        if not item:
            continue
        candidate = Path(item)
        if candidate.is_absolute():
            try:
                item = candidate.resolve().relative_to(repo).as_posix()
            except ValueError:
                continue  # outside the repository: nothing to seed
        item = item.removeprefix("./").rstrip("/")
        if item in index_of:
            focus_files.add(index_of[item])
        elif any(rel.startswith(item + "/") for rel in paths):
            focus_files.update(i for rel, i in index_of.items() if rel.startswith(item + "/"))
        elif item not in paths:
            focus_names.add(item)
    return focus_files, focus_names


def _definition_line(definition: tuple, depth: int) -> str:
    return f"{definition[2]:6d}  {'  ' * depth}{definition[4]}"


def _depth(definitions: tuple, position: int) -> int:
    parents = {d[0]: d[5] for d in definitions}
    depth, parent = 0, definitions[position][5]
    while parent and depth < 4:
        depth += 1
        parent = parents.get(parent, "")
    return depth


def _fit(
    files: list[str],
    tags: Sequence[FileTags],
    ranking: Ranking,
    name_only: list[str],
    max_tokens: int,
    counter: LineTokenCounter,
) -> tuple[list[tuple[int, int]], list[str], int]:
    """The longest prefix of the ranking whose rendering fits `max_tokens`.

    Each entry adds its own line, plus its file's header the first time the file shows
    up; the rendering's count is the sum of its lines' counts, so a running total and a
    binary search over it decide the cut. Lines are counted in blocks, lazily.
    """
    entries: list[tuple[int, int] | str] = []
    seen: set[int] = set()
    cumulative: list[int] = []
    total = 0
    sequence = _in_order(ranking, name_only)
    while total <= max_tokens:
        block = list(itertools.islice(sequence, _COUNT_BLOCK))
        if not block:
            break
        block_lines: list[list[str]] = []
        for item in block:
            if isinstance(item, str):
                block_lines.append([item])
                continue
            file_index, def_index = item
            lines = []
            if file_index not in seen:
                seen.add(file_index)
                lines.append(f"{files[file_index]}:")
            definitions = tags[file_index].definitions
            lines.append(_definition_line(definitions[def_index], _depth(definitions, def_index)))
            block_lines.append(lines)
        counts = iter(counter.counts([line for lines in block_lines for line in lines]))
        for item, lines in zip(block, block_lines, strict=True):
            total += sum(next(counts) for _ in lines)
            cumulative.append(total)
            entries.append(item)
    # Binary search: how many leading entries stay within the budget.
    lo, hi = 0, len(cumulative)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cumulative[mid - 1] <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    kept = entries[:lo]
    chosen = [item for item in kept if not isinstance(item, str)]
    chosen_names = [item for item in kept if isinstance(item, str)]
    return chosen, chosen_names, cumulative[lo - 1] if lo else 0


def _in_order(ranking: Ranking, name_only: list[str]) -> Iterator[tuple[int, int] | str]:
    """The ranked definitions, then the files listed by name, converted a block at a time
    (a monorepo has a million definitions; a map shows a few hundred)."""
    for start in range(0, len(ranking), _COUNT_BLOCK):
        stop = start + _COUNT_BLOCK
        files = ranking.order_file[start:stop].tolist()
        yield from zip(files, ranking.order_position[start:stop].tolist(), strict=True)
    yield from name_only


def _render(
    files: list[str], tags: Sequence[FileTags], chosen: list[tuple[int, int]], names: list[str]
) -> str:
    by_file: dict[int, list[int]] = {}
    for file_index, def_index in chosen:
        by_file.setdefault(file_index, []).append(def_index)
    lines: list[str] = []
    for file_index, positions in by_file.items():
        lines.append(f"{files[file_index]}:")
        definitions = tags[file_index].definitions
        for position in sorted(positions, key=lambda p: (definitions[p][2], p)):
            lines.append(_definition_line(definitions[position], _depth(definitions, position)))
    lines.extend(names)
    return "\n".join(lines) + "\n" if lines else ""


@dataclass
class SymbolMatches:
    definitions: list[tuple[str, Definition]]
    references: list[tuple[str, int]]  # (path, line)


def find_symbol(repo: str | Path, name: str, cache_dir: str | Path | None = None) -> SymbolMatches:
    """Definitions and references of `name`; `Class.method` narrows definitions by parent."""
    repo = Path(repo).resolve()
    scan = _scan(repo, Path(cache_dir) if cache_dir else None, preload_tokenizer=False)
    scan.cache.save()
    parent, _, short = name.rpartition(".")
    definitions: list[tuple[str, Definition]] = []
    references: list[tuple[str, int]] = []
    for rel in sorted(scan.tagged):
        file_tags = scan.tagged[rel]
        for raw in file_tags.definitions:
            if raw[0] == short and (not parent or raw[5] == parent.rsplit(".", 1)[-1]):
                definitions.append((rel, Definition.from_raw(raw)))
        references.extend((rel, line) for line in sorted(set(file_tags.references.get(short, ()))))
    return SymbolMatches(definitions, references)
