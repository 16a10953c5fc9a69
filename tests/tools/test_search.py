"""grep and list_files: ignore rules, confinement, bounds, and ripgrep/Python parity."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.powerless import closed, run_without_root_powers
from tools import search, search_engines
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
        "[1 binary file with matches not shown: data.bin]",
    ]
    assert result.data["matches"] == 10 and result.data["files"] == 10
    assert result.data["complete"] is True
    assert result.data["skipped"] == {"binary": {"count": 1, "paths": ["data.bin"]}}


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
    assert len(lines) == 4
    assert (
        lines[2]
        == "[showing 2 of 8 matches in 8 files; narrow the pattern, path or glob to see the rest]"
    )
    assert lines[3] == "[1 binary file with matches not shown: data.bin]"
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


@pytest.fixture(params=FLAVOURS)
def big_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The only match for `y+` lies in a one-line file of 19 MB of `y`s."""
    root = tmp_path / "big"
    root.mkdir()
    (root / "small.txt").write_text("nothing here\n")
    (root / "huge.txt").write_bytes(b"y" * (19 * 2**20))
    if request.param == "git":
        subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
        subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", [None, "huge.txt"])
def test_grep_names_the_file_too_large_to_search(
    big_repo: Path, engine: str, path: str | None
) -> None:
    ctx = ToolContext(repo=big_repo, result_limit=100_000)
    query = {"pattern": "y+"} | ({"path": path} if path else {})
    result = Grep(engine).invoke(query, ctx)  # type: ignore[arg-type]
    assert result.text == "No matches.\n[1 file over 10 MB not searched: huge.txt]\n"
    assert result.data["skipped"] == {"too_large": {"count": 1, "paths": ["huge.txt"]}}
    assert result.data["engine"] == engine
    clean = Grep(engine).invoke({"pattern": "nothing"}, ctx)  # type: ignore[arg-type]
    assert clean.text.endswith("[1 file over 10 MB not searched: huge.txt]\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_grep_counts_skipped_files_and_names_the_first_few(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_engines, "MAX_FILE_BYTES", 10)  # rg reads it per search
    for n in range(7):
        (tmp_path / f"f{n}.txt").write_text("a long line of more than ten bytes\n")
        (tmp_path / f"b{n}.bin").write_bytes(b"long\x00\n")
    ctx = ToolContext(repo=tmp_path, result_limit=100_000)
    result = Grep(engine).invoke({"pattern": "long"}, ctx)  # type: ignore[arg-type]
    lines = result.text.splitlines()
    assert lines[0] == "No matches."
    assert lines[1].startswith("[7 files over")
    assert lines[1].endswith(" not searched: f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and 2 more]")
    assert lines[2:] == [
        "[7 binary files with matches not shown: b0.bin, b1.bin, b2.bin, b3.bin, b4.bin"
        " and 2 more]",
    ]
    assert result.data["skipped"] == {
        "binary": {"count": 7, "paths": [f"b{n}.bin" for n in range(5)]},
        "too_large": {"count": 7, "paths": [f"f{n}.txt" for n in range(5)]},
    }
    none = Grep(engine).invoke({"pattern": "absent"}, ctx)  # type: ignore[arg-type]
    assert "binary" not in none.text  # a binary file that does not match is not news


@pytest.fixture(params=FLAVOURS)
def closed_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """open.txt, and closed.txt and shut/ that mode 000 closes."""
    root = tmp_path / "closed"
    for name, text in (("open.txt", "nothing\n"), ("closed.txt", "needle\n"),
                       ("shut/inner.txt", "needle\n")):  # fmt: skip
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    if request.param == "git":
        subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    with closed(root / "closed.txt", root / "shut"):
        yield root


@pytest.mark.parametrize("engine", ENGINES)
def test_grep_and_list_files_name_what_they_could_not_read(
    closed_repo: Path, engine: str
) -> None:
    query = {"pattern": "needle|nothing"}
    found = run_without_root_powers("tools.search:Grep", closed_repo, query, engine)
    assert found["text"] == (
        "open.txt:1: nothing\n[2 unreadable paths not searched: closed.txt, shut]\n"
    )
    assert found["data"]["skipped"] == {
        "unreadable": {"count": 2, "paths": ["closed.txt", "shut"]}
    }
    listing = run_without_root_powers("tools.search:ListFiles", closed_repo, {}, engine)
    assert listing["text"] == "closed.txt\nopen.txt\n[1 unreadable path not listed: shut]\n"
    assert listing["data"]["skipped"] == {"unreadable": {"count": 1, "paths": ["shut"]}}
