"""The import graph: no circles among the project's modules, and a layer contract that sees all.

`lint-imports` (run by `scripts/test`, configured in `.importlinter`) checks the layers
`tui > agent > model > tools | kernels`. A layers contract cannot see a circle inside one
package (two modules of `model` importing each other), so this test builds the same graph
with grimp, import-linter's graph library (imports inside functions and under
TYPE_CHECKING included), and fails on every circle, naming its files and import lines.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "model", "tools", "kernels", "tui")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted.

    A module's component is itself plus the modules it imports (through any chain) that
    also import it back."""
    circles: list[list[str]] = []
    placed: set[str] = set()
    for module in sorted(graph.modules):
        if module in placed:
            continue
        both_ways = graph.find_upstream_modules(module) & graph.find_downstream_modules(module)
        if both_ways:
            circle = sorted({module, *both_ways})
            placed.update(circle)
            circles.append(circle)
    return circles


def module_file(module: str) -> str:
    path = Path(*module.split("."))
    return str(path / "__init__.py" if (ROOT / path).is_dir() else path.with_suffix(".py"))


def describe(graph: grimp.ImportGraph, circle: list[str]) -> str:
    """The circle's files, and each import line that ties two of them."""
    members = set(circle)
    lines = [f"circle of {len(circle)} modules: " + ", ".join(map(module_file, circle))]
    for importer in circle:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(
                    f"  {module_file(importer)}:{detail['line_number']}: "
                    f"{detail['line_contents'].strip()}"
                )
    return "\n".join(lines)


def test_no_import_circle(graph: grimp.ImportGraph) -> None:
    circles = import_circles(graph)
    assert not circles, "import circles:\n" + "\n".join(describe(graph, c) for c in circles)


def test_circle_finder_names_the_files_and_lines() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b", line_number=3, line_contents="import b")
    graph.add_import(importer="pkg.b", imported="pkg.a", line_number=9, line_contents="import a")
    graph.add_import(importer="pkg.c", imported="pkg.a", line_number=1, line_contents="import a")
    assert import_circles(graph) == [["pkg.a", "pkg.b"]]
    text = describe(graph, ["pkg.a", "pkg.b"])
    assert "pkg/a.py:3: import b" in text and "pkg/b.py:9: import a" in text


def test_every_python_folder_is_a_package() -> None:
    """grimp (so `lint-imports` and the test above) skips a folder without `__init__.py`,
    and setuptools' package finder leaves it out of the wheel."""
    missing = sorted(
        str(folder.relative_to(ROOT))
        for name in PACKAGES
        for folder in [ROOT / name, *(ROOT / name).rglob("*")]
        if folder.is_dir()
        and any(folder.glob("*.py"))
        and not (folder / "__init__.py").exists()
    )
    assert not missing, f"folders of Python modules without __init__.py: {missing}"


def test_the_layer_contract_names_every_package() -> None:
    """A package left out of `.importlinter` would be free to import anything."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    roots = config["importlinter"]["root_packages"].split()
    layers = config["importlinter:contract:layers"]["layers"]
    in_layers = {name.strip() for line in layers.splitlines() for name in line.split("|")}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert set(roots) == set(PACKAGES) == in_layers - {""}  # "": the blank first line
    assert {pattern.rstrip("*") for pattern in shipped} == set(PACKAGES)
