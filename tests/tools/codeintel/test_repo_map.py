"""The ranked repository map: ranking, focus, token budget, and the tools around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.base import ToolContext
from tools.codeintel.repo_map import find_symbol, repo_map
from tools.codeintel.tokens import count_tokens
from tools.codeintel.tools import FindSymbol, RepoMapTool


def _first_file(text: str) -> str:
    return text.splitlines()[0].rstrip(":")


def test_most_referenced_file_comes_first(project: Path, tmp_path: Path) -> None:
    result = repo_map(project, 4096, cache_dir=tmp_path / "cache")
    assert _first_file(result.text) == "core.py"
    assert "     1  class Registry:" in result.text
    assert "     2    def register(self, item):" in result.text
    # Files without definitions are still listed, by name.
    assert "README.md" in result.text.splitlines()


def test_focus_changes_the_top_file(project: Path, tmp_path: Path) -> None:
    result = repo_map(project, 4096, focus=["lonely.py"], cache_dir=tmp_path / "cache")
    assert _first_file(result.text) == "lonely.py"
    by_identifier = repo_map(project, 4096, focus=["lonely_helper"], cache_dir=tmp_path / "c2")
    assert _first_file(by_identifier.text) == "lonely.py"


@pytest.mark.parametrize("budget", [20, 60, 150, 400])
def test_budget_is_respected_and_counted_exactly(
    project: Path, tmp_path: Path, budget: int
) -> None:
    result = repo_map(project, budget, cache_dir=tmp_path / "cache")
    actual = count_tokens(result.text)
    assert actual <= budget
    # The map's own count (a sum over lines) is the tokenizer's count of the whole text.
    assert result.tokens == actual
    bigger = repo_map(project, budget * 4, cache_dir=tmp_path / "cache")
    assert bigger.definitions >= result.definitions


def test_a_budget_too_small_for_anything_gives_an_empty_map(project: Path) -> None:
    result = repo_map(project, 1)
    assert result.text == "" and result.tokens == 0


def test_find_symbol_gives_definitions_and_references(project: Path) -> None:
    found = find_symbol(project, "lookup_entry")
    assert [(path, d.line, d.kind) for path, d in found.definitions] == [("core.py", 6, "function")]
    assert ("leaf_0.py", 1) in found.references  # the import
    assert ("leaf_0.py", 5) in found.references  # the call
    narrowed = find_symbol(project, "Registry.register")
    assert [(p, d.parent) for p, d in narrowed.definitions] == [("core.py", "Registry")]
    assert find_symbol(project, "Other.register").definitions == []


def test_tools_follow_the_protocol(project: Path, tmp_path: Path) -> None:
    ctx = ToolContext(repo=project, data_dir=tmp_path / "data")
    mapped = RepoMapTool().invoke({"max_tokens": 200, "focus": ["lonely.py"]}, ctx)
    assert mapped.ok and mapped.text.startswith("lonely.py:")
    assert mapped.data["tokens"] <= 200
    assert (tmp_path / "data" / "cache" / "tags").is_dir()
    found = FindSymbol().invoke({"name": "Registry"}, ctx)
    assert found.ok and "core.py:1-3 class: class Registry:" in found.text
    missing = FindSymbol().invoke({"name": "nothing_here"}, ctx)
    assert missing.ok and "no definition or reference" in missing.text
    outside = RepoMapTool().invoke({"focus": ["../elsewhere/x.py"]}, ctx)
    assert not outside.ok and "outside the repository" in outside.text
    assert not RepoMapTool().invoke({"max_tokens": 5}, ctx).ok  # below the schema's minimum


def test_cli_prints_the_map(project: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from agent.cli import main

    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    code = main(["map", "--repo", str(project), "--tokens", "300", "--stats",
                 "--focus", "lonely.py"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0
    assert out.out.startswith("lonely.py:")
    assert "parsed: 8" in out.err and "total_s:" in out.err
    assert (tmp_path / "home" / "cache" / "tags").is_dir()


def test_kept_bpe_model_counts_exactly_like_tekkenizer(tmp_path: Path) -> None:
    from tools.codeintel import tokens

    texts = ["def f(x):\n", "    class Ünïcode[T]:  # ✓\n", "[INST] not special here\n", "\t\n"]
    expected = [count_tokens(text) for text in texts]
    tokens._counters.clear()
    first = tokens.token_counter(tmp_path)  # builds the model and keeps it on disk
    assert list(tmp_path.glob("tekken-bpe-*.pickle"))
    tokens._counters.clear()
    reloaded = tokens.token_counter(tmp_path)  # loads the kept model
    assert [first(t) for t in texts] == [reloaded(t) for t in texts] == expected


def test_test_files_are_recognised() -> None:
    from tools.codeintel.rank import is_test_path

    for path in ("tests/a.py", "pkg/test_b.py", "app/tests.py", "x_test.go", "a/b.test.ts",
                 "web/__tests__/c.js"):  # fmt: skip
        assert is_test_path(path), path
    for path in ("src/contest.py", "latest.py", "pkg/testing_utils_not.py", "src/spectrum.rs"):
        assert not is_test_path(path), path


def test_references_landing_in_tests_count_less(tmp_path: Path) -> None:
    # The leaves call `emit_event`, which only a test double defines (the real one comes
    # from a library): those calls must not lift the test file above the code.
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "core.py").write_text("def lookup_entry(name):\n    return name\n")
    for i in range(4):
        (repo / f"leaf_{i}.py").write_text(
            "from core import lookup_entry\n\n\ndef handle(x):\n"
            "    emit_event(x)\n    emit_event(x)\n    emit_event(x)\n    emit_event(x)\n"
            "    return lookup_entry(x)\n"
        )
    (repo / "tests" / "fakes.py").write_text("def emit_event(event):\n    return event\n")
    result = repo_map(repo, 4096)
    order = [line.rstrip(":") for line in result.text.splitlines() if line.endswith(":")]
    assert order.index("core.py") < order.index("tests/fakes.py")


def test_empty_and_tiny_repositories(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    assert repo_map(repo, 100).text == ""
    (repo / "notes.txt").write_text("x")
    assert repo_map(repo, 100).text == "notes.txt\n"
    (repo / "empty.py").write_text("")
    (repo / "one.py").write_text("def only():\n    pass\n")
    text = repo_map(repo, 100, focus=["only", "not_a_name"]).text
    assert text.startswith("one.py:\n     1  def only():\n")
    assert find_symbol(repo, "only").references == []


def test_schemas_describe_every_field() -> None:
    import json

    from tools.codeintel.tools import code_intel_tools
    from tools.images import ViewImage
    from tools.screenshot import Screenshot

    for tool in [*code_intel_tools(), ViewImage(), Screenshot()]:
        schema = tool.schema()
        json.dumps(schema)
        parameters = schema["function"]["parameters"]
        assert parameters["additionalProperties"] is False
        for field, spec in parameters["properties"].items():
            assert spec.get("description"), f"{tool.name}.{field}"
