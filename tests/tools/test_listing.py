"""The one file lister against real git: tricky ignore files, listed the way
`git ls-files --cached --others --exclude-standard` lists them, by git and by the walk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.tools.git.helpers import git, make_repo, write
from tools.base import ToolContext
from tools.codeintel.discover import list_files as map_files
from tools.listing import list_files, path_key, walk_files
from tools.search import Grep, ListFiles

pytestmark = pytest.mark.require_program("git")  # skips here, fails in CI (tests/support.py)

IGNORE_FILES = {
    ".gitignore": (
        "# comments and blank lines are not patterns\n\n"
        "*.log\n!important.log\n"  # negation
        "/build/\n"  # anchored, directory only
        "docs/**/*.tmp\n"  # ** in the middle
        "**/cache\n"  # ** in front
        "out/\n!out/keep.txt\n"  # a file in an ignored directory cannot be re-included
        "*.o\n!lib.o\n"
        "/anchored.txt\n"
        "nested/**\n!nested/allowed/\n!nested/allowed/**\n"  # ** at the end, re-included
        "foo/*.py\n"  # a slash in the middle anchors to this directory
        "data\n"  # no slash: a file or a directory at any depth
        "\\#literal\n"  # escaped #
        "\\!bang\n"  # escaped !
        "notes[0-9].txt\n"  # character class
        "?.md\n"
        "src/*/gen/\n"  # a wildcard directory in an anchored pattern
        "**/pkg/mod.c\n"
        "spaced.txt   \n"  # trailing spaces are not part of the pattern
    ),
    "sub/.gitignore": "!*.log\n/local.txt\ndeep/\n!data\n",
    "sub/inner/.gitignore": "*.txt\n!wanted.txt\n",
}
FILES = [
    "a.log", "important.log", "src/app.py", "src/b.log", "src/important.log",
    "build/out.c", "src/build/kept.c", "docs/x.tmp", "docs/a/b/c.tmp", "docs/a/readme.md",
    "cache/x", "src/cache/y", "src/cachefile", "out/keep.txt", "out/other.txt",
    "src/out/z.c", "x.o", "lib.o", "src/lib.o", "anchored.txt", "src/anchored.txt",
    "nested/a.txt", "nested/deep/b.txt", "nested/allowed/c.txt", "nested/allowed/d/e.txt",
    "foo/a.py", "foo/bar/a.py", "src/foo/a.py", "data", "src/data/f.txt", "sub/data",
    "#literal", "!bang", "notes1.txt", "notes.txt", "sub/x.log", "sub/local.txt",
    "sub/other/local.txt", "sub/deep/f.c", "sub/deeper/f.c", "sub/inner/a.txt",
    "sub/inner/wanted.txt", "sub/inner/b.md", "secret-key.pem", "src/secret-2.txt",
    ".hidden/h.txt", ".env", "a.md", "ab.md", "src/x/gen/g.c", "src/x/y/gen/g.c",
    "pkg/mod.c", "lib/pkg/mod.c", "lib/pkg/other.c", "spaced.txt",
]  # fmt: skip
EXCLUDE = "secret-*\n"  # .git/info/exclude


@pytest.fixture
def tricky_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # No global excludes file: git's answer must come from the tree alone.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = make_repo(tmp_path / "repo")
    for rel, text in IGNORE_FILES.items():
        write(root, rel, text)
    for rel in FILES:
        write(root, rel, f"{rel}\n")
    write(root, ".git/info/exclude", EXCLUDE)
    git(root, "add", "src/app.py", "lib.o", "sub/.gitignore")  # tracked and untracked both
    return root


def git_truth(root: Path, *pathspec: str) -> list[str]:
    out = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", *pathspec)
    return sorted((p for p in out.split("\0") if p), key=path_key)


def test_git_and_the_walk_list_what_git_lists(tricky_repo: Path) -> None:
    truth = git_truth(tricky_repo)
    assert {"important.log", "lib.o", "nested/allowed/d/e.txt", "sub/x.log"} <= set(truth)
    assert not {"out/keep.txt", "secret-key.pem", "docs/a/b/c.tmp", "src/data/f.txt"} & set(truth)
    assert list_files(tricky_repo) == truth
    assert walk_files(tricky_repo) == truth


def test_a_subdirectory_lists_as_git_does(tricky_repo: Path) -> None:
    for start in ("sub", "sub/inner", "nested", "docs"):
        truth = git_truth(tricky_repo, "--", start)
        assert list_files(tricky_repo, start) == truth, start
        assert walk_files(tricky_repo, start) == truth, start


def test_every_caller_uses_the_same_listing(tricky_repo: Path) -> None:
    truth = git_truth(tricky_repo)
    assert map_files(tricky_repo) == sorted(truth)
    ctx = ToolContext(repo=tricky_repo, result_limit=1_000_000)
    listed = ListFiles("python").invoke({}, ctx)
    assert listed.text.splitlines() == truth
    found = Grep("python").invoke({"pattern": "^"}, ctx)
    assert sorted({line.split(":", 1)[0] for line in found.text.splitlines()}) == sorted(truth)


@pytest.mark.require_program("rg")
def test_ripgrep_lists_the_same(tricky_repo: Path) -> None:
    ctx = ToolContext(repo=tricky_repo, result_limit=1_000_000)
    assert ListFiles("rg").invoke({}, ctx).text.splitlines() == git_truth(tricky_repo)


def test_outside_git_the_walk_keeps_the_gitignore_rules(tricky_repo: Path) -> None:
    truth = git_truth(tricky_repo)
    shutil.rmtree(tricky_repo / ".git")  # info/exclude goes with it
    expected = sorted([*truth, "secret-key.pem", "src/secret-2.txt"], key=path_key)
    assert list_files(tricky_repo) == expected
    assert map_files(tricky_repo) == sorted(expected)


def test_tracked_files_that_ignore_rules_match_are_left_out_like_ripgrep(
    tricky_repo: Path,
) -> None:
    git(tricky_repo, "add", "-f", "a.log")
    listed = list_files(tricky_repo)
    assert listed == git_truth(tricky_repo) and "a.log" in listed  # git's own view
    assert "a.log" not in list_files(tricky_repo, ripgrep_view=True)
    assert "a.log" not in walk_files(tricky_repo)  # the walk has only the ignore rules
    ctx = ToolContext(repo=tricky_repo, result_limit=1_000_000)
    assert "a.log" not in ListFiles("python").invoke({}, ctx).text.splitlines()


def test_an_ignored_directory_named_on_purpose_is_listed(tricky_repo: Path) -> None:
    assert list_files(tricky_repo, "build") == ["build/out.c"]
    assert list_files(tricky_repo, "out") == ["out/keep.txt", "out/other.txt"]
    # Rules that do not ignore the directory itself still apply inside it.
    write(tricky_repo, "build/trace.log", "noise\n")
    assert list_files(tricky_repo, "build") == ["build/out.c"]


def test_a_broken_repository_falls_back_to_the_walk(tricky_repo: Path) -> None:
    truth = git_truth(tricky_repo)
    (tricky_repo / ".git" / "HEAD").write_text("garbage\n")  # git now refuses the repo
    assert list_files(tricky_repo) == truth
