"""The ranking through a node per name: the same walk as the file → file graph, with
R + D edges where the file graph has R × D."""

from __future__ import annotations

import math

import numpy as np

from tools.codeintel import rank
from tools.codeintel.rank import build_graph, rank_definitions
from tools.codeintel.tags import FileTags, extract_tags

# Shared names defined in several files (one of them in tests), a file using a name it
# defines itself, a builtin name, a private one, one only the leaves use, a file
# defining everything it uses (no edges), and a name defined in more than five files.
SOURCES = {
    "core.py": "class Registry:\n    def register(self, item):\n        return item\n\n\n"
    "def lookup_entry(name):\n    return Registry().register(name)\n",
    "other.py": "def lookup_entry(name):\n    return name\n\n\ndef _private():\n"
    "    return lookup_entry(1)\n",
    "tests/fakes.py": "def lookup_entry(name):\n    return name\n\n\ndef print(x):\n    return x\n",
    "alone.py": "def alone():\n    return alone()\n",
    **{
        f"leaf_{i}.py": f"from core import Registry, lookup_entry\n\n\ndef handler_{i}(r):\n"
        f"    print(r)\n    _private()\n    setup()\n    return lookup_entry(r) or Registry()\n"
        f"\n\ndef setup():\n    return handler_{(i + 1) % 7}(None)\n"
        for i in range(7)
    },
}


def _project() -> tuple[list[str], list[FileTags]]:
    paths = sorted(SOURCES)
    return paths, [extract_tags(path, SOURCES[path].encode()) for path in paths]


def _file_graph_ranking(
    paths: list[str], tags: list[FileTags], focus_files: set[int], focus_names: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The model written out the slow way: a dense file → file matrix with an entry per
    (referencing file, name, defining file), PageRank by power iteration, and each
    definition's score from the rank flowing along the edges into it."""
    n = len(paths)
    definers: dict[str, list[int]] = {}
    for index, file_tags in enumerate(tags):
        for name in dict.fromkeys(file_tags.definition_names()):
            definers.setdefault(name, []).append(index)
    edges: list[tuple[int, str, int, float]] = []
    for src, file_tags in enumerate(tags):
        for name, count in file_tags.reference_counts():
            files = definers.get(name, [])
            for dst in files:
                if dst == src:
                    continue
                weight = math.sqrt(count) / len(files)
                if len(name) >= rank.DESCRIPTIVE_MIN_LENGTH and rank._DESCRIPTIVE.match(name):
                    weight *= rank.DESCRIPTIVE_BOOST
                if name.startswith("_"):
                    weight *= rank.WEAK
                if len(files) > rank.GENERIC_DEFINERS:
                    weight *= rank.WEAK
                if name in rank.PYTHON_BUILTINS:
                    weight *= rank.WEAK
                if rank.is_test_path(paths[dst]):
                    weight *= rank.WEAK
                if name in focus_names:
                    weight *= rank.FOCUS_NAME_BOOST
                edges.append((src, name, dst, weight))
    matrix = np.zeros((n, n))
    for src, _, dst, weight in edges:
        matrix[src, dst] += weight
    out = matrix.sum(axis=1)
    seeds = set(focus_files) | {i for n_, fs in definers.items() if n_ in focus_names for i in fs}
    personal = np.zeros(n)
    personal[list(seeds) if seeds else slice(None)] = 1.0
    personal /= personal.sum()
    file_rank = personal.copy()
    for _ in range(1000):
        spread = np.zeros(n)
        for src in range(n):
            if out[src] > 0:
                spread += file_rank[src] * matrix[src] / out[src]
        dangling = file_rank[out == 0].sum()
        file_rank = rank.DAMPING * (spread + dangling * personal) + (1 - rank.DAMPING) * personal
    scores = []
    for index, file_tags in enumerate(tags):
        names = file_tags.definition_names()
        for name in names:
            flow = sum(
                file_rank[src] * weight / out[src]
                for src, edge_name, dst, weight in edges
                if dst == index and edge_name == name
            )
            score = flow / names.count(name) + rank.OWN_RANK_WEIGHT * file_rank[index]
            score += rank.FOCUS_SCORE * (index in focus_files) + rank.FOCUS_SCORE * (
                name in focus_names
            )
            scores.append(score)
    return file_rank, np.asarray(scores)


def test_name_nodes_rank_exactly_as_the_file_graph() -> None:
    paths, tags = _project()
    graph = build_graph(tags, paths)
    for focus_files, focus_names in [
        (set(), set()),
        ({paths.index("other.py")}, set()),
        (set(), {"lookup_entry"}),
    ]:
        ranking = rank_definitions(graph, focus_files, focus_names)
        file_rank, scores = _file_graph_ranking(paths, tags, focus_files, focus_names)
        assert np.allclose(ranking.file_rank, file_rank, atol=1e-5)
        expected = np.argsort(-scores, kind="stable")
        offsets = np.cumsum([0] + [len(t.definitions) for t in tags])
        shown = offsets[ranking.order_file] + ranking.order_position
        assert shown.tolist() == expected.tolist()


def test_edges_grow_with_references_plus_definitions() -> None:
    # One name defined in D files and referenced from R others: the file graph needs
    # R × D edges, the name node R + D.
    definers, referrers = 30, 40
    paths = [f"def_{i}.py" for i in range(definers)] + [f"use_{i}.py" for i in range(referrers)]
    sources = ["def async_setup_entry(hass):\n    return hass\n"] * definers
    sources += ["async_setup_entry(None)\n"] * referrers
    tags = [extract_tags(p, s.encode()) for p, s in zip(paths, sources, strict=True)]
    graph = build_graph(tags, paths)
    assert graph.edges == referrers + definers
    assert graph.file_edges() == referrers * definers
    ranking = rank_definitions(graph, set(), set())
    # Every definer is alike: each gets the same share.
    assert np.allclose(ranking.file_rank[:definers], ranking.file_rank[0])
    assert ranking.with_definitions.tolist() == [True] * definers + [False] * referrers
