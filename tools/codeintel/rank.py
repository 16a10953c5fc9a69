"""Ranking: the file graph of definitions and references, and personalised PageRank.

A file that references a name points at every file that defines it, weighted by how
often it uses the name (square-rooted, so one chatty file does not dominate), boosted
for descriptive names and identifiers in focus, damped for private, builtin or widely
defined names. PageRank over files, seeded by the focus, then flows each file's rank
along its edges to the definitions it references: the score a definition is shown by.

The graph depends only on the tags, so it is built once per cache state (and kept in
the cache); a map with a new focus or budget only re-runs the numpy part.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tools.codeintel.tags import FileTags

DAMPING = 0.85
FOCUS_NAME_BOOST = 10.0
# Long snake_case / camelCase names are specific: a reference to one says a lot.
DESCRIPTIVE_BOOST = 10.0
DESCRIPTIVE_MIN_LENGTH = 8
_DESCRIPTIVE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+$|^[a-z]+(?:[A-Z][a-z0-9]+)+$")
# A name defined in more files than this is generic (get, run, __init__): weak evidence.
GENERIC_DEFINERS = 5
WEAK = 0.1
PYTHON_BUILTINS = frozenset(dir(builtins))
# How much a file's own rank lifts its definitions: orders the ones nobody references.
OWN_RANK_WEIGHT = 0.05
# Definitions in focus files, and of focus identifiers, come before everything else.
FOCUS_SCORE = 1.0


@dataclass
class Graph:
    n_files: int
    names: list[str]
    # Edges: referencing file, weight, and slot: the (defining file, name) pair they
    # point at. Stored narrow: the graph is loaded from the cache on every warm map.
    src: np.ndarray
    weight: np.ndarray
    edge_slot: np.ndarray
    slot_file: np.ndarray  # per slot: the defining file and the name id
    slot_name: np.ndarray
    # PageRank only needs file → file: edges collapsed to distinct (src, dst) pairs.
    edge_pair: np.ndarray
    pair_src: np.ndarray
    pair_dst: np.ndarray
    def_file: np.ndarray  # definitions, flattened: file index, position in file, name id
    def_position: np.ndarray
    def_name: np.ndarray
    # Each definition's slot (-1: nothing references it), and how many definitions share
    # it (overloads, properties), who split what it receives.
    def_slot: np.ndarray
    def_share: np.ndarray


@dataclass
class Ranking:
    file_rank: np.ndarray  # per file index
    order: list[tuple[int, int]]  # (file index, definition position), best first


def is_test_path(path: str) -> bool:
    """Tests reference the code; code seldom references tests. A reference that lands in
    a test file is most likely a name clash (a test double's `import_module`)."""
    parts = path.lower().split("/")
    name = parts[-1]
    return (
        any(part in ("test", "tests", "__tests__", "testing", "spec") for part in parts[:-1])
        or name.startswith("test_")
        or bool(_TEST_FILE.search(name))
    )


_TEST_FILE = re.compile(r"(_test\.\w+|\.(test|spec)\.\w+|^tests?\.py)$")


def build_graph(tags: Sequence[FileTags], paths: Sequence[str] | None = None) -> Graph:
    """The reference graph; `paths` (parallel to `tags`) lets edges into tests be damped.

    Python touches each definition name and each (file, referenced name) once; the
    fan-out to every defining file and the weights are numpy work.
    """
    n_files = len(tags)
    name_ids: dict[str, int] = {}
    def_file: list[int] = []
    def_name: list[int] = []
    for index, file_tags in enumerate(tags):
        for name in file_tags.definition_names():
            def_file.append(index)
            def_name.append(name_ids.setdefault(name, len(name_ids)))
    n_names = max(1, len(name_ids))
    def_file_a = np.asarray(def_file, dtype=np.int64)
    def_name_a = np.asarray(def_name, dtype=np.int64)
    def_position = _positions_within_file(def_file_a)

    # Definers of each name: distinct (name, file) pairs grouped by name.
    pair_keys = np.unique(def_name_a * max(1, n_files) + def_file_a)
    definer_name, definer_file = pair_keys // max(1, n_files), pair_keys % max(1, n_files)
    n_definers = np.bincount(definer_name, minlength=len(name_ids))
    first_definer = np.concatenate(([0], np.cumsum(n_definers)[:-1]))

    ref_file: list[int] = []
    ref_name: list[int] = []
    ref_count: list[int] = []
    for index, file_tags in enumerate(tags):
        for name, count in file_tags.reference_counts():
            name_id = name_ids.get(name)
            if name_id is not None:
                ref_file.append(index)
                ref_name.append(name_id)
                ref_count.append(count)
    ref_file_a = np.asarray(ref_file, dtype=np.int64)
    ref_name_a = np.asarray(ref_name, dtype=np.int64)
    ref_count_a = np.asarray(ref_count, dtype=np.float64)

    # Fan each reference out to every file defining its name.
    fan = n_definers[ref_name_a]
    total = int(fan.sum())
    starts = np.repeat(first_definer[ref_name_a] - np.cumsum(fan) + fan, fan)
    edge_ref = np.repeat(np.arange(ref_file_a.size), fan)
    dst_a = definer_file[starts + np.arange(total)] if total else np.zeros(0, dtype=np.int64)
    src_a = ref_file_a[edge_ref]
    edge_name_a = ref_name_a[edge_ref]

    names = list(name_ids)
    multiplier, builtin = _name_tables(names, n_definers)
    is_python = np.asarray([t.language == "python" for t in tags], dtype=bool)
    in_tests = np.asarray(
        [is_test_path(p) for p in paths] if paths is not None else [False] * n_files, dtype=bool
    )
    # A name defined in several files is ambiguous: the evidence splits among them.
    weight = np.sqrt(ref_count_a[edge_ref]) * multiplier[edge_name_a] / fan[edge_ref]
    weight *= np.where(is_python[src_a] & builtin[edge_name_a], WEAK, 1.0)
    weight *= np.where(in_tests[dst_a], WEAK, 1.0)
    keep = src_a != dst_a
    src_a, dst_a, edge_name_a, weight = src_a[keep], dst_a[keep], edge_name_a[keep], weight[keep]

    slot_keys, edge_slot = np.unique(dst_a * n_names + edge_name_a, return_inverse=True)
    def_keys = def_file_a * n_names + def_name_a
    def_slot = np.full(def_keys.size, -1, dtype=np.int64)
    if slot_keys.size:
        found = np.clip(np.searchsorted(slot_keys, def_keys), 0, slot_keys.size - 1)
        hit = slot_keys[found] == def_keys
        def_slot[hit] = found[hit]
    _, def_inverse, same_key = np.unique(def_keys, return_inverse=True, return_counts=True)
    pair_index_keys, edge_pair = np.unique(src_a * max(1, n_files) + dst_a, return_inverse=True)
    return Graph(
        n_files=n_files,
        names=names,
        src=src_a.astype(np.int32),
        weight=weight.astype(np.float32),
        edge_slot=edge_slot.reshape(-1).astype(np.int32),
        slot_file=(slot_keys // n_names).astype(np.int32),
        slot_name=(slot_keys % n_names).astype(np.int32),
        edge_pair=edge_pair.reshape(-1).astype(np.int32),
        pair_src=(pair_index_keys // max(1, n_files)).astype(np.int32),
        pair_dst=(pair_index_keys % max(1, n_files)).astype(np.int32),
        def_file=def_file_a.astype(np.int32),
        def_position=def_position.astype(np.int32),
        def_name=def_name_a.astype(np.int32),
        def_slot=def_slot.astype(np.int32),
        def_share=same_key[def_inverse.reshape(-1)].astype(np.float32),
    )


def _positions_within_file(def_file: np.ndarray) -> np.ndarray:
    """0, 1, 2... restarting at each file (definitions arrive grouped by file)."""
    if def_file.size == 0:
        return def_file
    starts = np.flatnonzero(np.r_[True, def_file[1:] != def_file[:-1]])
    run_lengths = np.diff(np.r_[starts, def_file.size])
    return np.arange(def_file.size) - np.repeat(starts, run_lengths)


def _name_tables(names: list[str], n_definers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per name: the weight multiplier, and whether it is a Python builtin."""
    multiplier = np.asarray(
        [_name_multiplier(name, n) for name, n in zip(names, n_definers.tolist(), strict=True)],
        dtype=np.float64,
    )
    builtin = np.asarray([name in PYTHON_BUILTINS for name in names], dtype=bool)
    return multiplier, builtin


def _name_multiplier(name: str, n_definers: int) -> float:
    multiplier = 1.0
    if len(name) >= DESCRIPTIVE_MIN_LENGTH and _DESCRIPTIVE.match(name):
        multiplier *= DESCRIPTIVE_BOOST
    if name.startswith("_"):
        multiplier *= WEAK
    if n_definers > GENERIC_DEFINERS:
        multiplier *= WEAK
    return multiplier


def rank_definitions(graph: Graph, focus_files: set[int], focus_names: set[str]) -> Ranking:
    n = graph.n_files
    focus_ids = np.asarray(
        [i for i, name in enumerate(graph.names) if name in focus_names], dtype=np.int64
    )
    weight = graph.weight.astype(np.float64)
    if focus_ids.size:
        boosted = np.isin(graph.slot_name, focus_ids)[graph.edge_slot]
        weight *= np.where(boosted, FOCUS_NAME_BOOST, 1.0)
    src = graph.src.astype(np.int64)

    personal = np.zeros(n)
    seeds = np.zeros(n, dtype=bool)
    if focus_files:
        seeds[list(focus_files)] = True
    if focus_ids.size:
        seeds[graph.def_file[np.isin(graph.def_name, focus_ids)]] = True
    personal[seeds if seeds.any() else slice(None)] = 1.0
    if n:
        personal /= personal.sum()
    pair_weight = np.bincount(graph.edge_pair, weights=weight, minlength=graph.pair_src.size)
    file_rank = pagerank(
        n, graph.pair_src.astype(np.int64), graph.pair_dst.astype(np.int64), pair_weight, personal
    )

    # Rank flowing along each edge lands on the (target file, name) definitions.
    out_weight = np.bincount(src, weights=weight, minlength=n)
    denominator = out_weight[src]
    flow = np.divide(
        file_rank[src] * weight, denominator, out=np.zeros_like(weight), where=denominator > 0
    )
    by_slot = np.bincount(graph.edge_slot, weights=flow, minlength=graph.slot_file.size)
    by_slot = by_slot.astype(np.float64)
    received = np.zeros(graph.def_slot.size)
    referenced = graph.def_slot >= 0
    received[referenced] = by_slot[graph.def_slot[referenced]] / graph.def_share[referenced]

    scores = received + OWN_RANK_WEIGHT * file_rank[graph.def_file]
    if focus_files:
        scores += FOCUS_SCORE * np.isin(graph.def_file, list(focus_files))
    if focus_ids.size:
        scores += FOCUS_SCORE * np.isin(graph.def_name, focus_ids)
    # Stable sort on negated scores: ties keep file order, then source order.
    order = np.argsort(-scores, kind="stable")
    files, positions = graph.def_file[order].tolist(), graph.def_position[order].tolist()
    pairs = list(zip(files, positions, strict=True))
    return Ranking(file_rank=file_rank, order=pairs)


def pagerank(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    personal: np.ndarray,
    damping: float = DAMPING,
    tolerance: float = 1e-6,
    max_iterations: int = 100,
) -> np.ndarray:
    """Weighted personalised PageRank by power iteration; dangling rank goes to `personal`."""
    if n == 0:
        return np.zeros(0)
    weight = np.asarray(weight, dtype=np.float64)  # bincount of nothing comes back as ints
    out_weight = np.bincount(src, weights=weight, minlength=n).astype(np.float64)
    dangling = out_weight == 0
    denominator = out_weight[src]
    share = np.divide(weight, denominator, out=np.zeros_like(weight), where=denominator > 0)
    rank = personal.copy()
    for _ in range(max_iterations):
        spread = np.bincount(dst, weights=rank[src] * share, minlength=n)
        new = damping * (spread + rank[dangling].sum() * personal) + (1 - damping) * personal
        if np.abs(new - rank).sum() < tolerance:
            return new
        rank = new
    return rank
