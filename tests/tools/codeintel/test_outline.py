"""outline: definitions with kinds, nesting, line ranges and signatures, per language."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.base import ToolContext
from tools.codeintel.tags import Definition, extract_tags
from tools.codeintel.tools import Outline

# (file, source, expected (name, kind, parent) in source order, one signature we expect)
SNIPPETS = [
    (
        "shapes.py",
        "import math\n\n\nclass Circle(Shape):\n    \"\"\"A circle.\"\"\"\n\n"
        "    def area(self, scale: float = 1.0) -> float:  # why not\n"
        "        return math.pi * self.r ** 2\n\n\n"
        "def make(\n    r,\n    *,\n    name=None,\n):\n    return Circle(r)\n",
        [("Circle", "class", None), ("area", "method", "Circle"), ("make", "function", None)],
        "def make(r, *, name=None,):",
    ),
    (
        "shapes.js",
        "export class Circle extends Shape {\n  area() { return 3 * this.r; }\n}\n"
        "export function make(r) { return new Circle(r); }\n"
        "const twice = (x) => x * 2;\n",
        [("Circle", "class", None), ("area", "method", "Circle"), ("make", "function", None),
         ("twice", "function", None)],
        "export function make(r)",
    ),
    (
        "shapes.ts",
        "export interface Shape { area(): number; }\n"
        "export type Radius = number;\n"
        "export class Circle implements Shape {\n  constructor(private r: Radius) {}\n"
        "  area(): number { return 3 * this.r; }\n}\n"
        "export enum Kind { Round }\n",
        [("Shape", "interface", None), ("area", "method", "Shape"), ("Radius", "type", None),
         ("Circle", "class", None), ("constructor", "method", "Circle"),
         ("area", "method", "Circle"), ("Kind", "enum", None)],
        "export class Circle implements Shape",
    ),
    (
        "View.tsx",
        "type Props = { title: string };\n"
        "export function View({ title }: Props) {\n  return <Panel title={title} />;\n}\n"
        "export class Old extends React.Component<Props> {\n  render() { return <div />; }\n}\n",
        [("Props", "type", None), ("View", "function", None), ("Old", "class", None),
         ("render", "method", "Old")],
        "export function View({ title }: Props)",
    ),
    (
        "shapes.go",
        "package shapes\n\ntype Circle struct {\n\tR float64\n}\n\n"
        "type Shape interface {\n\tArea() float64\n}\n\n"
        "func (c *Circle) Area() float64 {\n\treturn 3 * c.R\n}\n\n"
        "func Make(r float64) *Circle {\n\treturn &Circle{R: r}\n}\n",
        [("Circle", "struct", None), ("Shape", "interface", None), ("Area", "method", None),
         ("Make", "function", None)],
        "func (c *Circle) Area() float64",
    ),
    (
        "shapes.rs",
        "pub struct Circle { r: f64 }\n\npub trait Shape {\n    fn area(&self) -> f64;\n}\n\n"
        "impl Shape for Circle {\n    fn area(&self) -> f64 { 3.0 * self.r }\n}\n\n"
        "pub fn make(r: f64) -> Circle {\n    Circle { r }\n}\n",
        [("Circle", "struct", None), ("Shape", "trait", None), ("area", "method", "Shape"),
         ("Circle", "impl", None), ("area", "method", "Circle"), ("make", "function", None)],
        "pub fn make(r: f64) -> Circle",
    ),
    (
        "Circle.java",
        "package shapes;\n\npublic class Circle implements Shape {\n"
        "    private final double r;\n"
        "    public Circle(double r) { this.r = r; }\n"
        "    @Override\n    public double area() { return 3 * r; }\n}\n",
        [("Circle", "class", None), ("Circle", "method", "Circle"), ("area", "method", "Circle")],
        "public Circle(double r)",
    ),
    (
        "shapes.c",
        "#include <math.h>\n\ntypedef struct circle {\n    double r;\n} circle_t;\n\n"
        "double area(const circle_t *c);\n\n"
        "double area(const circle_t *c) {\n    return 3 * c->r * c->r;\n}\n",
        [("circle_t", "type", None), ("circle", "struct", "circle_t"),
         ("area", "function", None), ("area", "function", None)],
        "double area(const circle_t *c)",
    ),
    (
        "shapes.cpp",
        "namespace geo {\nclass Circle : public Shape {\n public:\n"
        "  double area() const override;\n};\n\n"
        "double Circle::area() const { return 3.0; }\n}  // namespace geo\n",
        [("geo", "module", None), ("Circle", "class", "geo"), ("area", "method", "Circle"),
         ("area", "function", "geo")],
        "double Circle::area() const",
    ),
]


@pytest.mark.parametrize(("name", "source", "expected", "signature"), SNIPPETS,
                         ids=[s[0] for s in SNIPPETS])  # fmt: skip
def test_definitions_per_language(
    name: str, source: str, expected: list[tuple], signature: str
) -> None:
    tags = extract_tags(name, source.encode())
    definitions = [Definition.from_raw(raw) for raw in tags.definitions]
    assert [(d.name, d.kind, d.parent) for d in definitions] == expected
    assert signature in [d.signature for d in definitions]
    for definition in definitions:
        assert 1 <= definition.line <= definition.end_line <= source.count("\n") + 1


def test_line_ranges_and_comment_free_signature() -> None:
    source = SNIPPETS[0][1]
    raws = extract_tags("s.py", source.encode()).definitions
    by_name = {raw[0]: Definition.from_raw(raw) for raw in raws}
    assert (by_name["Circle"].line, by_name["Circle"].end_line) == (4, 8)
    assert by_name["area"].signature == "def area(self, scale: float = 1.0) -> float:"


def test_references_are_collected_with_lines() -> None:
    tags = extract_tags("shapes.py", SNIPPETS[0][1].encode())
    assert tags.references["Circle"] == [16]
    assert tags.references["Shape"] == [4]


def test_outline_tool_nests_methods(tmp_path: Path) -> None:
    (tmp_path / "shapes.py").write_text(SNIPPETS[0][1])
    result = Outline().invoke({"path": "shapes.py"}, ToolContext(repo=tmp_path))
    assert result.ok, result.text
    lines = result.text.splitlines()
    assert lines[0].startswith("shapes.py (python, 16 lines, 3 definitions)")
    assert "4-8  class Circle(Shape):" in lines[1]
    assert "7-8    def area(" in lines[2]  # indented under its class


def test_outline_of_an_unsupported_language_degrades(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Title\n")
    result = Outline().invoke({"path": "notes.md"}, ToolContext(repo=tmp_path))
    assert result.ok
    assert "not supported" in result.text and "python" in result.text
    assert result.data["supported"] is False


def test_outline_refuses_paths_outside_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "secret.py").write_text("def f(): pass\n")
    result = Outline().invoke({"path": "../secret.py"}, ToolContext(repo=repo))
    assert not result.ok and "outside the repository" in result.text
