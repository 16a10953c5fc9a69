"""The syntax guard: good edits pass, edits that break a clean file are caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.codeintel.languages import get_language
from tools.syntax_guard import check_edit

# (file name, clean source, a good edit of it, a bad edit of it, the line the bad edit breaks)
CASES = [
    (
        "mod.py",
        "def area(w, h):\n    return w * h\n",
        "def area(w, h, scale=1):\n    return w * h * scale\n",
        "def area(w, h:\n    return w * h\n",
        1,
    ),
    (
        "app.js",
        "function add(a, b) {\n  return a + b;\n}\n",
        "function add(a, b) {\n  const s = a + b;\n  return s;\n}\n",
        "function add(a, b) {\n  return a + ;\n}\n",
        2,
    ),
    (
        "app.ts",
        "export function add(a: number, b: number): number {\n  return a + b;\n}\n",
        "export function add(a: number, b = 2): number {\n  return a + b;\n}\n",
        # The closing brace goes missing right after the last statement.
        "export function add(a: number, b: number): number {\n  return a + b;\n",
        2,
    ),
    (
        "view.tsx",
        "export const View = () => <div className=\"x\">hi</div>;\n",
        "export const View = () => <div className=\"y\"><b>hi</b></div>;\n",
        "export const View = () => <div className=\"x\">hi</span;\n",
        1,
    ),
    (
        "main.go",
        "package main\n\nfunc add(a, b int) int {\n\treturn a + b\n}\n",
        "package main\n\nfunc add(a, b int) int {\n\ts := a + b\n\treturn s\n}\n",
        "package main\n\nfunc add(a, b int) int {\n\treturn a +\n}\n",
        4,
    ),
    (
        "lib.rs",
        "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
        "fn add(a: i32, b: i32) -> i32 {\n    let s = a + b;\n    s\n}\n",
        "fn add(a: i32, b: i32) -> i32 {\n    let s = a + b\n    s\n}\n",
        2,
    ),
    (
        "Calc.java",
        "class Calc {\n    int add(int a, int b) { return a + b; }\n}\n",
        "class Calc {\n    int add(int a, int b) { int s = a + b; return s; }\n}\n",
        "class Calc {\n    int add(int a, int b) { return a + b }\n}\n",
        2,
    ),
    (
        "calc.c",
        "int add(int a, int b) {\n    return a + b;\n}\n",
        "int add(int a, int b) {\n    int s = a + b;\n    return s;\n}\n",
        "int add(int a, int b) {\n    return a + b\n}\n",
        2,
    ),
    (
        "calc.cpp",
        "namespace m {\nint add(int a, int b) { return a + b; }\n}\n",
        "namespace m {\ntemplate <typename T> T add(T a, T b) { return a + b; }\n}\n",
        # The parser takes the next brace for the function's, so the namespace's is missing.
        "namespace m {\nint add(int a, int b) { return a + b; \n}\n",
        3,
    ),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "clean", "good", "bad", "bad_line"), CASES, ids=IDS)
def test_good_edit_passes(name: str, clean: str, good: str, bad: str, bad_line: int) -> None:
    assert check_edit(Path(name), clean, good) is None


@pytest.mark.parametrize(("name", "clean", "good", "bad", "bad_line"), CASES, ids=IDS)
def test_bad_edit_is_caught_with_location_and_snippet(
    name: str, clean: str, good: str, bad: str, bad_line: int
) -> None:
    message = check_edit(Path(name), clean, bad)
    assert message is not None
    assert name in message
    assert f"line {bad_line}:" in message
    # The snippet marks the first broken line and shows its text.
    marked = [line for line in message.splitlines() if line.startswith(">")]
    assert marked and bad.splitlines()[bad_line - 1].strip() in marked[0]


@pytest.mark.parametrize(("name", "clean", "good", "bad", "bad_line"), CASES, ids=IDS)
def test_file_already_broken_is_not_blocked(
    name: str, clean: str, good: str, bad: str, bad_line: int
) -> None:
    # Editing a broken file, even leaving it broken, is allowed: the guard only
    # protects files that parsed cleanly.
    assert check_edit(Path(name), bad, bad + "\n") is None


def test_new_file_that_does_not_parse_is_broken() -> None:
    message = check_edit(Path("new.py"), None, "class A(:\n    pass\n")
    assert message is not None and "new file" in message
    assert check_edit(Path("new.py"), None, "class A:\n    pass\n") is None


def test_unknown_language_is_never_blocked() -> None:
    assert check_edit(Path("notes.txt"), "fine", "((( not code") is None
    assert check_edit(Path("Makefile"), None, "all:\n\t(((") is None


def test_missing_node_location_is_reported() -> None:
    message = check_edit(Path("x.rs"), "fn main() {}\n", "fn main() { let x = 1 }\n")
    assert message is not None
    assert "missing ;" in message and "line 1:22" in message


def test_column_counts_characters_not_bytes() -> None:
    before = 'package main\n\nvar s = "é"\n'
    after = 'package main\n\nvar s = "é" +\n'
    message = check_edit(Path("u.go"), before, after)
    assert message is not None
    # The error begins after `var s = "é" ` — 13 characters in, though 14 bytes.
    assert "line 3:" in message


def test_every_required_grammar_is_installed() -> None:
    for language in ("python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp"):
        assert get_language(language) is not None, language


MODERN = [
    ("m.py", "match x:\n    case [1, *rest]:\n        pass\n    case {'k': v} if v:\n        ..."),
    ("m.py", "type Alias[T] = list[T]\n\n\ndef first[T](xs: list[T]) -> T:\n    return xs[0]\n"),
    ("m.py", "try:\n    pass\nexcept* ValueError:\n    pass\n"),
    ("m.ts", "const x = { a: 1 } satisfies Record<string, number>;\n"),
    ("m.ts", "type T<U> = U extends (infer V)[] ? V : never;\n"),
    ("m.rs", "fn f() { let Some(x) = g() else { return; }; }\n"),
    ("m.go", "package p\n\nfunc Map[T any, U comparable](xs []T) map[U]T { return nil }\n"),
    ("M.java", "record P(int x, int y) {}\nsealed interface S permits A {}\n"),
    ("m.cpp", "template <typename T> concept C = requires(T t) { t.f(); };\n"),
    ("m.c", "int a[] = { [0] = 1, [2] = 3 };\n"),
]


@pytest.mark.parametrize(("name", "source"), MODERN)
def test_modern_syntax_is_not_mistaken_for_an_error(name: str, source: str) -> None:
    # A false alarm would block the model from writing valid code.
    assert check_edit(Path(name), None, source) is None
