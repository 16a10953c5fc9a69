"""grep and list_files: ignore rules, confinement, bounds, and ripgrep/Python parity."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools import search
from tools.base import ToolContext, ToolResult
from tools.sandbox.policy import SandboxPolicy
from tools.search import Grep, ListFiles

needs_rg = pytest.mark.require_program("rg")  # skips here, fails in CI (tests/support.py)

ENGINES = [pytest.param("rg", marks=needs_rg), "python"]
FLAVOURS = ["plain", pytest.param("git", marks=pytest.mark.require_program("git"))]

# Everything list_files should show for the tree below, in ripgrep's path order.
VISIBLE = [
    ".github/workflows/ci.yml",
    ".gitignore",
    "a/b.py",
    "a-b.py",
    "a.py",
    "app.py",
    "data.bin",
    "keep.log",
    "src/.gitignore",
    "src/deep/nested/mod.py",
    "src/secret.txt",
    "src/util.py",
    "win.txt",
]


def build_tree(root: Path, flavour: str) -> None:
    files: dict[str, bytes | str] = {
        ".gitignore": "*.log\nbuild/\n/secret.txt\n!keep.log\n",
        "app.py": "def main():\n    return 'hello'\n",
        "keep.log": "hello log kept\n",
        "debug.log": "hello debug\n",
        "secret.txt": "hello secret\n",
        "build/out.py": "hello build\n",
        "src/.gitignore": "generated/\n*.tmp.py\n",
        "src/util.py": "def helper():\n    return 'Hello'\n",
        "src/secret.txt": "hello, not anchored here\n",
        "src/generated/gen.py": "hello generated\n",
        "src/x.tmp.py": "hello temp\n",
        "src/deep/nested/mod.py": "class Hello:\n    pass\n",
        ".github/workflows/ci.yml": "run: echo hello\n",
        "data.bin": b"hello\x00binary\n",
        "win.txt": b"hello crlf\r\nend\r\n",
        "a.py": "a = 'hello a'\n",
        "a-b.py": "ab = 'hello a-b'\n",
        "a/b.py": "b = 'hello a/b'\n",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    (root / "link.py").symlink_to("app.py")
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "leak.py").write_text("hello from outside\n")
    (root / "escape").symlink_to(outside)
    if flavour == "git":
        git = ["git", "-C", str(root)]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "."], check=True)
        # Tracked although ignored: ripgrep goes by .gitignore, so both engines skip it.
        subprocess.run([*git, "add", "-f", "debug.log"], check=True)


@pytest.fixture(params=FLAVOURS)
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    build_tree(root, request.param)
    return root


@pytest.fixture
def ctx(repo: Path) -> ToolContext:
    return ToolContext(repo=repo, result_limit=1_000_000)


def listed(result: ToolResult) -> list[str]:
    assert result.ok, result.text
    return [line for line in result.text.splitlines() if not line.startswith("[")]


@pytest.mark.parametrize("engine", ENGINES)
def test_list_files_respects_gitignore_and_skips_links(ctx: ToolContext, engine: str) -> None:
    result = ListFiles(engine).invoke({}, ctx)  # type: ignore[arg-type]
    assert listed(result) == VISIBLE
    assert result.data["files"] == len(VISIBLE)


@pytest.mark.parametrize("engine", ENGINES)
def test_grep_finds_visible_text_files_only(ctx: ToolContext, engine: str) -> None:
    result = Grep(engine).invoke({"pattern": "hello", "ignore_case": True}, ctx)  # type: ignore[arg-type]
    assert result.text.splitlines() == [
        ".github/workflows/ci.yml:1: run: echo hello",
        "a/b.py:1: b = 'hello a/b'",
        "a-b.py:1: ab = 'hello a-b'",
        "a.py:1: a = 'hello a'",
        "app.py:2:     return 'hello'",
        "keep.log:1: hello log kept",
        "src/deep/nested/mod.py:1: class Hello:",
        "src/secret.txt:1: hello, not anchored here",
        "src/util.py:2:     return 'Hello'",
        "win.txt:1: hello crlf",
    ]
    assert result.data["matches"] == 10 and result.data["files"] == 10
    assert result.data["complete"] is True


QUERIES = [
    {"pattern": "hello"},
    {"pattern": "HELLO", "ignore_case": True},
    {"pattern": r"def \w+\(", "glob": "*.py"},
    {"pattern": "hello", "glob": "src/**/*.py", "ignore_case": True},
    {"pattern": "hello", "path": "src"},
    {"pattern": "hello", "path": "src/secret.txt"},
    {"pattern": "crlf$"},
    {"pattern": "^end$"},
    {"pattern": "a[-/]b"},
    {"pattern": "hello", "max_results": 3},
    {"pattern": "no such text anywhere"},
    {"pattern": "hello", "path": "build"},  # an ignored directory, named explicitly
    {"pattern": "hello", "path": "debug.log"},  # an ignored file, named explicitly
    {"pattern": "hello", "path": "data.bin"},
]


@needs_rg
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: ",".join(f"{k}={v}" for k, v in q.items()))
def test_grep_engines_agree(ctx: ToolContext, query: dict[str, object]) -> None:
    fast = Grep("rg").invoke(query, ctx)
    slow = Grep("python").invoke(query, ctx)
    used = (fast.data.pop("engine", None), slow.data.pop("engine", None))
    assert used in {("rg", "python"), (None, None)}  # None: answered before any search
    assert (fast.ok, fast.text, fast.data) == (slow.ok, slow.text, slow.data)


@needs_rg
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"glob": "*.py"},
        {"path": "src"},
        {"glob": "src/**"},
        {"glob": "*.{yml,log}"},
        {"path": "build"},
        {"path": "src/generated"},
    ],
)
def test_list_files_engines_agree(ctx: ToolContext, query: dict[str, object]) -> None:
    fast = ListFiles("rg").invoke(query, ctx)
    slow = ListFiles("python").invoke(query, ctx)
    assert listed(fast) == listed(slow)
    assert listed(fast)  # every query above matches something in the tree


@pytest.mark.parametrize("engine", ENGINES)
def test_glob_semantics(ctx: ToolContext, engine: str) -> None:
    tool = ListFiles(engine)  # type: ignore[arg-type]
    assert listed(tool.invoke({"glob": "*.py"}, ctx)) == [
        "a/b.py",
        "a-b.py",
        "a.py",
        "app.py",
        "src/deep/nested/mod.py",
        "src/util.py",
    ]
    assert listed(tool.invoke({"glob": "src/*.py"}, ctx)) == ["src/util.py"]
    assert listed(tool.invoke({"glob": "src/**/*.py"}, ctx)) == [
        "src/deep/nested/mod.py",
        "src/util.py",
    ]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", ["..", "../outside", "/etc", "escape"])
def test_paths_outside_the_repo_are_refused(ctx: ToolContext, engine: str, path: str) -> None:
    for tool in (Grep(engine), ListFiles(engine)):  # type: ignore[arg-type]
        result = tool.invoke(
            {"pattern": "hello", "path": path} if tool.name == "grep" else {"path": path}, ctx
        )
        assert not result.ok and "outside the repository" in result.text


@pytest.mark.parametrize("engine", ENGINES)
def test_results_are_bounded_with_counts(ctx: ToolContext, engine: str) -> None:
    result = Grep(engine).invoke({"pattern": "hello", "max_results": 2}, ctx)  # type: ignore[arg-type]
    lines = result.text.splitlines()
    assert len(lines) == 3
    assert (
        lines[2]
        == "[showing 2 of 8 matches in 8 files; narrow the pattern, path or glob to see the rest]"
    )
    assert result.data["matches"] == 8 and result.data["shown"] == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_match_counting_stops_at_cap(
    ctx: ToolContext, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "COUNT_CAP", 4)
    result = Grep(engine).invoke({"pattern": "hello", "max_results": 2}, ctx)  # type: ignore[arg-type]
    assert "of more than 4 matches" in result.text
    assert result.data["complete"] is False


@pytest.mark.parametrize("engine", ENGINES)
def test_list_files_says_how_many_more(
    ctx: ToolContext, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "MAX_LISTED_FILES", 3)
    result = ListFiles(engine).invoke({}, ctx)  # type: ignore[arg-type]
    assert listed(result) == VISIBLE[:3]
    assert f"[{len(VISIBLE) - 3} more files not shown" in result.text


@pytest.mark.parametrize("engine", ENGINES)
def test_invalid_pattern_is_reported(ctx: ToolContext, engine: str) -> None:
    result = Grep(engine).invoke({"pattern": "(unclosed"}, ctx)  # type: ignore[arg-type]
    assert not result.ok and "invalid regular expression" in result.text


@needs_rg
def test_lookaround_falls_back_to_python(ctx: ToolContext) -> None:
    result = Grep("rg").invoke({"pattern": r"(?<=return )'hello'"}, ctx)
    assert result.text.splitlines() == ["app.py:2:     return 'hello'"]
    assert result.data["engine"] == "python"


def test_bad_arguments_name_the_field(ctx: ToolContext) -> None:
    result = Grep().invoke('{"pattern": "x", "max_results": 0}', ctx)
    assert not result.ok and "max_results" in result.text
    assert "pattern: Field required" in Grep().invoke("{}", ctx).text


def test_forced_rg_without_rg_is_a_clear_error(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = Grep("rg").invoke({"pattern": "x"}, ctx)
    assert not result.ok and "ripgrep (rg) is not installed" in result.text


@pytest.mark.parametrize("engine", ENGINES)
def test_explicitly_named_ignored_directory_is_searched(ctx: ToolContext, engine: str) -> None:
    result = Grep(engine).invoke({"pattern": "hello", "path": "build"}, ctx)  # type: ignore[arg-type]
    assert result.text == "build/out.py:1: hello build\n"
    assert listed(ListFiles(engine).invoke({"path": "src/generated"}, ctx)) == [  # type: ignore[arg-type]
        "src/generated/gen.py"
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_explicitly_named_binary_file_is_reported_as_binary(ctx: ToolContext, engine: str) -> None:
    result = Grep(engine).invoke({"pattern": "hello", "path": "data.bin"}, ctx)  # type: ignore[arg-type]
    assert result.ok and result.text == "data.bin is a binary file; grep searches text files only."


@pytest.mark.parametrize("engine", ENGINES)
def test_secrets_masked_by_policy_are_not_searched_or_listed(repo: Path, engine: str) -> None:
    policy = SandboxPolicy(extra_masked_paths=(str(repo / "src"), str(repo / "keep.log")))
    ctx = ToolContext(repo=repo, sandbox=policy, result_limit=1_000_000)
    files = listed(ListFiles(engine).invoke({}, ctx))  # type: ignore[arg-type]
    assert files == [p for p in VISIBLE if not p.startswith("src/") and p != "keep.log"]
    found = Grep(engine).invoke({"pattern": "hello", "ignore_case": True}, ctx)  # type: ignore[arg-type]
    assert "src/" not in found.text and "keep.log" not in found.text
    assert found.data["matches"] == 6
    refused = Grep(engine).invoke({"pattern": "hello", "path": "src/util.py"}, ctx)  # type: ignore[arg-type]
    assert not refused.ok and "secret path" in refused.text


def test_python_engine_walks_the_tree_when_git_refuses(ctx: ToolContext) -> None:
    if (ctx.repo / ".git").is_dir():
        (ctx.repo / ".git" / "HEAD").write_text("garbage\n")  # every git command now fails
    assert listed(ListFiles("python").invoke({}, ctx)) == VISIBLE
