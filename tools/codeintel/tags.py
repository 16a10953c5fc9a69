"""Per-file tag extraction: definitions (kind, name, lines, signature) and references.

Tags are plain tuples and dicts, not objects: a repository's worth is pickled into the
cache and loaded on every map, and tuples load several times faster than instances.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from tools.codeintel.languages import get_language, get_parser, language_for_path
from tools.codeintel.queries import QUERIES

if TYPE_CHECKING:
    from tree_sitter import Node, Parser, Query

# (name, kind, first line, last line, signature, parent name or "") — lines are 1-based.
RawDefinition = tuple[str, str, int, int, str, str]
# name → the lines it is referenced on.
RawReferences = dict[str, list[int]]


class FileTags:
    """One file's tags, kept packed (a few strings and one int array) and unpacked on
    first use: a warm map loads every file's tags but reads only the few it shows."""

    __slots__ = (
        "_definitions", "_packed_definitions", "_packed_lines", "_packed_names", "_references",
        "language",
    )  # fmt: skip

    def __init__(
        self,
        language: str | None,  # None: a language we cannot parse (listed by name only)
        definitions: tuple[RawDefinition, ...] = (),
        references: RawReferences | None = None,
    ) -> None:
        self.language = language
        self._packed_definitions = _RECORD.join(
            _FIELD.join((name, kind, str(line), str(end), signature, parent))
            for name, kind, line, end, signature, parent in definitions
        )
        self._definitions: tuple[RawDefinition, ...] | None = tuple(definitions)
        references = references or {}
        self._packed_names = "\n".join(references)
        packed = array("I")
        for lines in references.values():
            packed.append(len(lines))
            packed.extend(lines)
        self._packed_lines = packed.tobytes()
        self._references: RawReferences | None = None

    @classmethod
    def _unpickle(
        cls, language: str | None, definitions: str, names: str, lines: bytes
    ) -> FileTags:
        tags = cls.__new__(cls)
        tags.language, tags._packed_definitions = language, definitions
        tags._packed_names, tags._packed_lines = names, lines
        tags._definitions = tags._references = None
        return tags

    def __reduce__(self) -> tuple:
        fields = (self.language, self._packed_definitions, self._packed_names, self._packed_lines)
        return (FileTags._unpickle, fields)

    @property
    def has_definitions(self) -> bool:
        return bool(self._packed_definitions)

    @property
    def definitions(self) -> tuple[RawDefinition, ...]:
        if self._definitions is None:
            records = self._packed_definitions.split(_RECORD) if self._packed_definitions else ()
            unpacked = []
            for record in records:
                name, kind, line, end, signature, parent = record.split(_FIELD)
                unpacked.append((name, kind, int(line), int(end), signature, parent))
            self._definitions = tuple(unpacked)
        return self._definitions

    @property
    def references(self) -> RawReferences:
        """name → the lines it is referenced on."""
        if self._references is None:
            values = array("I")
            values.frombytes(self._packed_lines)
            unpacked: RawReferences = {}
            position = 0
            for name in self._packed_names.split("\n") if self._packed_names else ():
                count = values[position]
                unpacked[name] = values[position + 1 : position + 1 + count].tolist()
                position += 1 + count
            self._references = unpacked
        return self._references

    def definition_names(self) -> list[str]:
        """Names of the definitions, in order, without unpacking the rest."""
        if self._definitions is not None:
            return [d[0] for d in self._definitions]
        if not self._packed_definitions:
            return []
        return [r.split(_FIELD, 1)[0] for r in self._packed_definitions.split(_RECORD)]

    def reference_counts(self) -> list[tuple[str, int]]:
        """(name, how many references) without unpacking the lines: what ranking needs."""
        if self._references is not None:
            return [(name, len(lines)) for name, lines in self._references.items()]
        if not self._packed_names:
            return []
        values = array("I")
        values.frombytes(self._packed_lines)
        counts = []
        position = 0
        for name in self._packed_names.split("\n"):
            count = values[position]
            counts.append((name, count))
            position += 1 + count
        return counts

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileTags):
            return NotImplemented
        return self.__reduce__()[1] == other.__reduce__()[1]

    def __hash__(self) -> int:
        return hash(self.__reduce__()[1])

    def __repr__(self) -> str:
        return f"FileTags({self.language!r}, {len(self.definitions)} definitions)"


@dataclass(frozen=True)
class Definition:
    name: str
    kind: str
    line: int
    end_line: int
    signature: str
    parent: str | None

    @classmethod
    def from_raw(cls, raw: RawDefinition) -> Definition:
        name, kind, line, end_line, signature, parent = raw
        return cls(name, kind, line, end_line, signature, parent or None)


# Kinds whose functions are methods.
CONTAINER_KINDS = frozenset({"class", "struct", "interface", "trait", "impl", "enum"})
SIGNATURE_MAX_CHARS = 200
# Separators of the packed definitions; stripped from signatures, never in names.
_RECORD, _FIELD = "\x1e", "\x1f"
MINIFIED_MIN_BYTES = 8 * 1024
MINIFIED_MEAN_LINE = 300
_SPACE_AFTER_OPEN = re.compile(r"([(\[]) ")
_SPACE_BEFORE_CLOSE = re.compile(r" ([)\]])")
_OPENS_OR_ENDS = re.compile(rb"[{;}]")

EMPTY = FileTags(language=None, definitions=(), references={})


@dataclass(frozen=True)
class _Compiled:
    parser: Parser
    # Definitions and references in one query: one walk of the tree instead of two.
    query: Query


@cache
def _compiled(language: str) -> _Compiled | None:
    """Parser and queries for a language, compiled once per process."""
    from tree_sitter import Query

    queries = QUERIES.get(language)
    grammar = get_language(language)
    parser = get_parser(language)
    if queries is None or grammar is None or parser is None:
        return None
    return _Compiled(
        parser=parser,
        query=Query(grammar, queries.definitions + queries.references),
    )


def has_tag_support(language: str | None) -> bool:
    """Whether tags can be extracted (cheap: compiles no query)."""
    return language in QUERIES and get_language(language) is not None


def extract_tags(path: str | Path, source: bytes) -> FileTags:
    """Definitions and references of one file; EMPTY tags for a language we lack."""
    language = language_for_path(path)
    compiled = _compiled(language) if language else None
    if compiled is None:
        return FileTags(language=None, definitions=(), references={})
    from tree_sitter import QueryCursor

    if looks_minified(path, source):
        return FileTags(language=language, definitions=(), references={})
    root = compiled.parser.parse(source).root_node
    definition_matches = []
    # Keyed by the raw bytes first: decoding and trimming once per distinct name, not
    # once per reference, is most of the Python time spent on a file.
    raw_references: dict[bytes, list[int]] = {}
    for match in QueryCursor(compiled.query).matches(root):
        captured = match[1].get("ref")
        if captured is None:
            definition_matches.append(match)
            continue
        for node in captured:
            raw_references.setdefault(node.text, []).append(node.start_point.row + 1)
    references: RawReferences = {}
    for raw, lines in raw_references.items():
        if name := _short_name(raw.decode("utf-8", errors="replace")):
            references.setdefault(name, []).extend(lines)
    for lines in references.values():
        lines.sort()
    definitions = _definitions(definition_matches, source)
    return FileTags(language=language, definitions=definitions, references=references)


def looks_minified(path: str | Path, source: bytes) -> bool:
    """Minified bundles: slow to parse, and their one-letter names only add noise."""
    if Path(path).name.endswith((".min.js", ".min.mjs")):
        return True
    lines = source.count(b"\n") + 1
    return len(source) > MINIFIED_MIN_BYTES and len(source) / lines > MINIFIED_MEAN_LINE


def _definitions(matches: list[tuple[int, dict[str, list[Node]]]], source: bytes) -> tuple:
    found: dict[tuple[int, int], tuple[Node, str, str]] = {}
    for _, captures in matches:
        names = captures.get("name")
        if not names:
            continue
        for capture, nodes in captures.items():
            if capture.startswith("def."):
                node = nodes[0]
                name = _short_name(names[0].text.decode("utf-8", errors="replace"))
                key = (node.start_byte, node.end_byte)
                if name and key not in found:
                    found[key] = (node, capture[4:], name)
    # Walk in document order, outer before inner, keeping the chain of open definitions
    # to learn each one's parent (and so whether a function is a method).
    ordered = sorted(found.items(), key=lambda item: (item[0][0], -item[0][1]))
    open_chain: list[tuple[int, str, str]] = []  # (end byte, kind, name)
    result: list[RawDefinition] = []
    for (start, end), (node, kind, name) in ordered:
        while open_chain and open_chain[-1][0] <= start:
            open_chain.pop()
        parent_kind, parent = (open_chain[-1][1], open_chain[-1][2]) if open_chain else ("", "")
        if kind == "function" and parent_kind in CONTAINER_KINDS:
            kind = "method"
        line, end_line = node.start_point[0] + 1, node.end_point[0] + 1
        result.append((name, kind, line, end_line, _signature(node, source), parent))
        open_chain.append((end, kind, name))
    return tuple(result)


def _short_name(text: str) -> str:
    """`ns::Type::method` → `method`, `Vec<T>` → `Vec`, `*p` → `p`: the name refs use."""
    if text.isidentifier():  # nearly every capture: skip the string surgery
        return text
    text = text.split("<", 1)[0].rsplit("::", 1)[-1].rsplit(".", 1)[-1]
    return text.strip().lstrip("*&~").strip()


def _signature(node: Node, source: bytes) -> str:
    """The definition's head: from the start of its line up to its body."""
    start = source.rfind(b"\n", 0, node.start_byte) + 1
    if _OPENS_OR_ENDS.search(source, start, node.start_byte):
        start = node.start_byte  # the line begins inside another definition
    body = node.child_by_field_name("body")
    if body is None and (value := node.child_by_field_name("value")) is not None:
        body = value.child_by_field_name("body")  # `const f = (x) => ...`
    if body is not None and body.start_byte > node.start_byte:
        # End at the last token before the body, so a comment after `):` stays out.
        end = body.start_byte
        before = body.prev_sibling
        while before is not None and "comment" in before.type:
            before = before.prev_sibling
        if before is not None:
            end = before.end_byte
    else:
        end = source.find(b"\n", node.start_byte)
        end = node.end_byte if end == -1 or end > node.end_byte else end
    text = source[start:end].decode("utf-8", errors="replace")
    if _RECORD in text or _FIELD in text:
        text = text.replace(_RECORD, " ").replace(_FIELD, " ")
    if "\n" in text or "\r" in text:
        head = " ".join(stripped for line in text.splitlines() if (stripped := line.strip()))
    else:
        head = text.strip()
    if "( " in head or "[ " in head or " )" in head or " ]" in head:
        head = _SPACE_BEFORE_CLOSE.sub(r"\1", _SPACE_AFTER_OPEN.sub(r"\1", head))
    if len(head) > SIGNATURE_MAX_CHARS:
        head = head[: SIGNATURE_MAX_CHARS - 1] + "…"
    return head
