"""Tree-sitter code intelligence: outlines, tags, the ranked repository map, find_symbol.

Submodules import tree-sitter; this package's top stays empty so importing `tools`
never pulls a parser in.
"""
