"""Ranking: the reference graph of files and names, and personalised PageRank.

A file that references a name points at every file that defines it, weighted by how
often it uses the name (square-rooted, so one chatty file does not dominate), boosted
for descriptive names and identifiers in focus, damped for private, builtin or widely
defined names, split among the definers and damped again for definers in tests.
PageRank over files, seeded by the focus, then flows each file's rank along its edges
to the definitions it references: the score a definition is shown by.

The file → file weight factors into a referencing side and a defining side,
w(src, name, dst) = a(src, name) · b(name, dst), so the walk goes through a node per
name: R reference edges into it and D definition edges out of it, instead of the R×D
file edges a name referenced from R files and defined in D would need. The only term
that does not factor, the dropped self-loop (a file using a name it defines itself),
is subtracted per file. The walk, and so the ranking, is the file graph's.

The graph depends only on the tags, so it is built once per cache state (and kept in
the cache); a map with a new focus or budget only re-runs the numpy part.
"""

from __future__ import annotations

import builtins
import itertools
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
    # Reference edges, file → name: one per (file, name it uses that some file defines).
    ref_file: np.ndarray
    ref_name: np.ndarray
    ref_weight: np.ndarray  # a(file, name), before any focus boost
    # b(name, file) of the referencing file when it defines the name too (else 0): the
    # self-loop the file graph leaves out.
    ref_self: np.ndarray
    # Definition edges, name → file: one per distinct (name, defining file).
    definer_name: np.ndarray
    definer_file: np.ndarray
    definer_weight: np.ndarray  # b(name, file)
    def_file: np.ndarray  # definitions, flattened: file index, position in file, name id
    def_position: np.ndarray
    def_name: np.ndarray
    def_definer: np.ndarray  # each definition's definition edge
    # Its own file's reference edge to its name (-1: the file does not use it), and how
    # many definitions share the name in that file (overloads, properties).
    def_self_ref: np.ndarray
    def_share: np.ndarray

    @property
    def edges(self) -> int:
        return int(self.ref_file.size + self.definer_file.size)

    def file_edges(self) -> int:
        """How many edges the file → file graph this one stands for would have."""
        fan = np.bincount(self.definer_name, minlength=len(self.names))
        return int(fan[self.ref_name].sum() - np.count_nonzero(self.ref_self))


@dataclass
class Ranking:
    file_rank: np.ndarray  # per file index
    # Definitions best first: file index and position in the file.
    order_file: np.ndarray
    order_position: np.ndarray
    with_definitions: np.ndarray  # per file index: whether it defines anything

    def __len__(self) -> int:
        return int(self.order_file.size)


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
    weights are numpy work.
    """
    n_files = len(tags)
    name_ids: dict[str, int] = {}
    def_file: list[int] = []
    def_name: list[int] = []
    for index, file_tags in enumerate(tags):
        for name in file_tags.definition_names():
            def_file.append(index)
            def_name.append(name_ids.setdefault(name, len(name_ids)))
    def_file_a = np.asarray(def_file, dtype=np.int64)
    def_name_a = np.asarray(def_name, dtype=np.int64)

    # Definition edges: distinct (name, file) pairs, grouped by name.
    definer_keys, def_definer, def_share = np.unique(
        def_name_a * max(1, n_files) + def_file_a, return_inverse=True, return_counts=True
    )
    def_definer = def_definer.reshape(-1)
    definer_name = definer_keys // max(1, n_files)
    definer_file = definer_keys % max(1, n_files)
    n_definers = np.bincount(definer_name, minlength=len(name_ids))
    in_tests = np.asarray(
        [is_test_path(p) for p in paths] if paths is not None else [False] * n_files, dtype=bool
    )
    # A name defined in several files is ambiguous: the evidence splits among them.
    definer_weight = np.where(in_tests[definer_file], WEAK, 1.0) / n_definers[definer_name]

    # Per file, names are looked up by map() (C loops); names nobody defines, -1, are
    # dropped afterwards by numpy.
    ref_file: list[int] = []
    ref_name: list[int] = []
    ref_count: list[int] = []
    lookup = name_ids.get
    for index, file_tags in enumerate(tags):
        counts = file_tags.reference_counts()
        if counts:
            names_used, uses = zip(*counts, strict=True)
            ref_name.extend(map(lookup, names_used, itertools.repeat(-1)))
            ref_count.extend(uses)
            ref_file.extend(itertools.repeat(index, len(uses)))
    ref_name_all = np.asarray(ref_name, dtype=np.int64)
    defined = ref_name_all >= 0
    ref_file_a = np.asarray(ref_file, dtype=np.int64)[defined]
    ref_name_a = ref_name_all[defined]
    ref_count_a = np.asarray(ref_count, dtype=np.float64)[defined]

    names = list(name_ids)
    multiplier, builtin = _name_tables(names, n_definers)
    is_python = np.asarray([t.language == "python" for t in tags], dtype=bool)
    ref_weight = np.sqrt(ref_count_a) * multiplier[ref_name_a]
    ref_weight *= np.where(is_python[ref_file_a] & builtin[ref_name_a], WEAK, 1.0)

    # Which reference edges are also definition edges of the same file (self-loops).
    ref_keys = ref_name_a * max(1, n_files) + ref_file_a
    ref_definer = _lookup(definer_keys, ref_keys)
    ref_self = _gather(definer_weight, ref_definer, 0.0)
    # References arrive sorted by file, then name order of first use: key them to find
    # each definition's own reference edge.
    ref_order = np.argsort(ref_keys, kind="stable")
    found = _lookup(ref_keys[ref_order], def_name_a * max(1, n_files) + def_file_a)
    def_self_ref = _gather(ref_order, found, -1)
    return Graph(
        n_files=n_files,
        names=names,
        ref_file=ref_file_a.astype(np.int32),
        ref_name=ref_name_a.astype(np.int32),
        ref_weight=ref_weight,
        ref_self=ref_self,
        definer_name=definer_name.astype(np.int32),
        definer_file=definer_file.astype(np.int32),
        definer_weight=definer_weight,
        def_file=def_file_a.astype(np.int32),
        def_position=_positions_within_file(def_file_a).astype(np.int32),
        def_name=def_name_a.astype(np.int32),
        def_definer=def_definer.astype(np.int32),
        def_self_ref=def_self_ref.astype(np.int32),
        def_share=def_share[def_definer].astype(np.float64),
    )


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each key in `sorted_keys`, or -1."""
    if sorted_keys.size == 0:
        return np.full(keys.size, -1, dtype=np.int64)
    found = np.clip(np.searchsorted(sorted_keys, keys), 0, sorted_keys.size - 1)
    return np.where(sorted_keys[found] == keys, found, -1)


def _gather(values: np.ndarray, index: np.ndarray, missing: float) -> np.ndarray:
    """values[index], and `missing` where the index is -1."""
    out = np.full(index.size, missing, dtype=values.dtype)
    hit = index >= 0
    out[hit] = values[index[hit]]
    return out


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


@dataclass
class _Walk:
    """The file graph's transition, kept factored: file → name → file."""

    graph: Graph
    ref_weight: np.ndarray  # a(file, name), focus boost included
    out_weight: np.ndarray  # per file: its file edges' total weight
    self_weight: np.ndarray  # per file: the weight of the self-loops left out

    @classmethod
    def of(cls, graph: Graph, ref_weight: np.ndarray) -> _Walk:
        n = graph.n_files
        n_names = len(graph.names)
        name_total = np.bincount(
            graph.definer_name, weights=graph.definer_weight, minlength=n_names
        )
        # A file defining all it uses has no edges: exactly 0 here (b − b), so dangling.
        out_edges = ref_weight * (name_total[graph.ref_name] - graph.ref_self)
        out_weight = np.bincount(graph.ref_file, weights=out_edges, minlength=n)
        self_weight = np.bincount(graph.ref_file, weights=ref_weight * graph.ref_self, minlength=n)
        return cls(graph, ref_weight, out_weight.astype(np.float64), self_weight)

    def per_out_weight(self, rank: np.ndarray) -> np.ndarray:
        """rank / out weight, 0 for files with no edges."""
        return np.divide(rank, self.out_weight, out=np.zeros_like(rank), where=self.out_weight > 0)

    def name_inflow(self, scaled: np.ndarray) -> np.ndarray:
        """Per name: Σ over referencing files of scaled[file] · a(file, name)."""
        graph = self.graph
        return np.bincount(
            graph.ref_name,
            weights=scaled[graph.ref_file] * self.ref_weight,
            minlength=len(graph.names),
        )

    def spread(self, rank: np.ndarray) -> np.ndarray:
        """One step: the rank each file receives along the file edges."""
        graph = self.graph
        scaled = self.per_out_weight(rank)
        inflow = self.name_inflow(scaled)
        received = np.bincount(
            graph.definer_file,
            weights=inflow[graph.definer_name] * graph.definer_weight,
            minlength=graph.n_files,
        )
        return np.maximum(received - scaled * self.self_weight, 0.0)


def rank_definitions(graph: Graph, focus_files: set[int], focus_names: set[str]) -> Ranking:
    n = graph.n_files
    focus_ids = np.asarray(
        [i for i, name in enumerate(graph.names) if name in focus_names], dtype=np.int64
    )
    ref_weight = graph.ref_weight.astype(np.float64)
    if focus_ids.size:
        ref_weight = ref_weight * np.where(
            np.isin(graph.ref_name, focus_ids), FOCUS_NAME_BOOST, 1.0
        )
    walk = _Walk.of(graph, ref_weight)

    personal = np.zeros(n)
    seeds = np.zeros(n, dtype=bool)
    if focus_files:
        seeds[list(focus_files)] = True
    if focus_ids.size:
        seeds[graph.def_file[np.isin(graph.def_name, focus_ids)]] = True
    personal[seeds if seeds.any() else slice(None)] = 1.0
    if n:
        personal /= personal.sum()
    file_rank = pagerank(walk, personal)

    # Rank flowing along each file edge lands on the (target file, name) definitions:
    # what reaches the name, less what came from the definition's own file.
    scaled = walk.per_out_weight(file_rank)
    inflow = walk.name_inflow(scaled)
    own = scaled[graph.def_file] * _gather(ref_weight, graph.def_self_ref, 0.0)
    reaching = np.maximum(inflow[graph.def_name] - own, 0.0)
    received = reaching * graph.definer_weight[graph.def_definer] / graph.def_share

    scores = received + OWN_RANK_WEIGHT * file_rank[graph.def_file]
    if focus_files:
        scores += FOCUS_SCORE * np.isin(graph.def_file, list(focus_files))
    if focus_ids.size:
        scores += FOCUS_SCORE * np.isin(graph.def_name, focus_ids)
    # Stable sort on negated scores: ties keep file order, then source order.
    order = np.argsort(-scores, kind="stable")
    return Ranking(
        file_rank=file_rank,
        order_file=graph.def_file[order],
        order_position=graph.def_position[order],
        with_definitions=np.bincount(graph.def_file, minlength=n) > 0,
    )


def pagerank(
    walk: _Walk,
    personal: np.ndarray,
    damping: float = DAMPING,
    tolerance: float = 1e-6,
    max_iterations: int = 100,
) -> np.ndarray:
    """Weighted personalised PageRank by power iteration; dangling rank goes to `personal`."""
    if walk.graph.n_files == 0:
        return np.zeros(0)
    dangling = walk.out_weight == 0
    rank = personal.copy()
    for _ in range(max_iterations):
        spread = walk.spread(rank)
        new = damping * (spread + rank[dangling].sum() * personal) + (1 - damping) * personal
        if np.abs(new - rank).sum() < tolerance:
            return new
        rank = new
    return rank
