"""The repository map says what it could not read and why: files too large to parse,
unreadable files and directories, counted and named, in its text and in its data."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.powerless import closed, run_without_root_powers
from tools.base import ToolContext
from tools.codeintel.cache import MAX_PARSE_BYTES
from tools.codeintel.repo_map import repo_map
from tools.codeintel.tools import RepoMapTool

TOO_LARGE_NOTE = "[1 file over 1 MB not parsed (their definitions are not in the map): giant.py]\n"


@pytest.fixture
def giant(project: Path) -> Path:
    """A source file just over the parse limit whose one definition is never read."""
    path = project / "giant.py"
    padding = "# padding\n" * (MAX_PARSE_BYTES // 10)
    path.write_text("def giant_function():\n    return 1\n" + padding)
    return path


def test_the_map_names_files_too_large_to_parse(
    project: Path, giant: Path, tmp_path: Path
) -> None:
    result = repo_map(project, 4096, cache_dir=tmp_path / "cache")
    assert result.text.endswith(TOO_LARGE_NOTE)
    assert "giant_function" not in result.text
    assert result.skipped.data() == {"too_large": {"count": 1, "paths": ["giant.py"]}}
    assert "core.py:" in result.text  # the rest is mapped as before
    tight = repo_map(project, 120, cache_dir=tmp_path / "cache")  # the cache now knows it
    assert tight.text.endswith(TOO_LARGE_NOTE) and tight.tokens <= 120
    tool = RepoMapTool().invoke({"max_tokens": 4096}, ToolContext(repo=project))
    assert tool.text.endswith(TOO_LARGE_NOTE)
    assert tool.data["skipped"] == {"too_large": {"count": 1, "paths": ["giant.py"]}}


def test_a_map_with_nothing_skipped_says_nothing_of_it(project: Path) -> None:
    tool = RepoMapTool().invoke({"max_tokens": 4096}, ToolContext(repo=project))
    assert "[" not in tool.text and "skipped" not in tool.data


@pytest.fixture(params=["plain", pytest.param("git", marks=pytest.mark.require_program("git"))])
def closed_project(request: pytest.FixtureRequest, project: Path) -> Iterator[Path]:
    """lonely.py and shut/ (with a source file) closed by mode 000."""
    (project / "shut").mkdir()
    (project / "shut" / "hidden.py").write_text("def hidden_function():\n    return 2\n")
    if request.param == "git":
        subprocess.run(["git", "-C", str(project), "init", "-q"], check=True)
    with closed(project / "lonely.py", project / "shut"):
        yield project


def test_the_map_names_what_it_could_not_read(closed_project: Path) -> None:
    mapped = run_without_root_powers(
        "tools.codeintel.tools:RepoMapTool", closed_project, {"max_tokens": 4096}
    )
    assert mapped["text"].endswith("[2 unreadable paths not mapped: lonely.py, shut]\n")
    assert "core.py:" in mapped["text"]
    assert mapped["data"]["skipped"] == {
        "unreadable": {"count": 2, "paths": ["lonely.py", "shut"]}
    }
