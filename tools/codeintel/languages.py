"""The one language table: file extension → grammar, and where each grammar comes from.

Grammars come from the per-language PyPI wheels (tree-sitter-python, ...), which ship a
compiled parser. tree-sitter-language-pack ≥ 1.0 fetches its parsers from the network on
first use, which fails offline, so it is only a fallback for grammars it has already
downloaded; it is never asked to download.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Language, Parser


@dataclass(frozen=True)
class Grammar:
    """Where a language's compiled grammar lives: a module and its language function."""

    module: str
    function: str = "language"


# Language name (the tree-sitter-language-pack spelling) → the PyPI wheel that ships it.
GRAMMARS: dict[str, Grammar] = {
    "python": Grammar("tree_sitter_python"),
    "javascript": Grammar("tree_sitter_javascript"),
    "typescript": Grammar("tree_sitter_typescript", "language_typescript"),
    "tsx": Grammar("tree_sitter_typescript", "language_tsx"),
    "go": Grammar("tree_sitter_go"),
    "rust": Grammar("tree_sitter_rust"),
    "java": Grammar("tree_sitter_java"),
    "c": Grammar("tree_sitter_c"),
    "cpp": Grammar("tree_sitter_cpp"),
}

# Extension (lower case, with the dot) → language name. Languages without a wheel above
# are parsed only if tree-sitter-language-pack already holds their grammar.
EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    # C++'s grammar parses nearly all C headers too, and C++ headers very often use .h.
    ".h": "cpp",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".swift": "swift",
    ".lua": "lua",
    ".sh": "bash",
    ".bash": "bash",
}


def language_for_path(path: str | Path) -> str | None:
    """The language name for a file, by extension; None when we have no entry."""
    # Plain string work, not Path: this runs for every file in the repository on every map.
    text = os.fspath(path)
    dot = text.rfind(".")
    if dot <= text.rfind("/") + 1:  # no extension, or a dot file such as .bashrc
        return None
    return EXTENSIONS.get(text[dot:].lower())


@cache
def get_language(name: str) -> Language | None:
    """The compiled grammar for `name`, or None when none is installed."""
    from tree_sitter import Language

    grammar = GRAMMARS.get(name)
    if grammar is not None:
        try:
            module = importlib.import_module(grammar.module)
        except ImportError:
            module = None
        if module is not None:
            return Language(getattr(module, grammar.function)())
    return _language_pack_grammar(name)


def _language_pack_grammar(name: str) -> Language | None:
    try:
        import tree_sitter_language_pack as pack
    except ImportError:
        return None
    try:
        # Only grammars already on disk: get_language would otherwise try the network.
        if name not in pack.downloaded_languages():
            return None
        return pack.get_language(name)
    except Exception:  # the pack raises its own error types for cache and load problems
        return None


def get_parser(name: str) -> Parser | None:
    """A fresh parser for `name` (parsers hold state, so callers should not share them)."""
    from tree_sitter import Parser

    language = get_language(name)
    return Parser(language) if language is not None else None


def parser_for_path(path: str | Path) -> tuple[str, Parser] | None:
    """(language name, parser) for a file, or None when the language is unknown or absent."""
    name = language_for_path(path)
    if name is None:
        return None
    parser = get_parser(name)
    return (name, parser) if parser is not None else None


def supported_languages() -> list[str]:
    """Languages whose grammar is installed right now."""
    names = sorted(set(EXTENSIONS.values()) | set(GRAMMARS))
    return [name for name in names if get_language(name) is not None]
