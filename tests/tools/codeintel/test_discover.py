"""Which files the map covers."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tools.codeintel.discover import list_files


def _tree(root: Path) -> None:
    for rel, text in {
        "src/app.py": "x = 1\n",
        "src/build/out.py": "generated = 1\n",
        "node_modules/pkg/index.js": "module.exports = 1\n",
        ".venv/lib/site.py": "",
        "env/pyvenv.cfg": "home = /usr\n",
        "env/lib/mod.py": "",
        "debug.log": "noise\n",
        "docs/guide.md": "# guide\n",
        ".gitignore": "*.log\nbuild/\n",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_walk_skips_vendored_venvs_and_ignored(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert list_files(tmp_path) == [".gitignore", "docs/guide.md", "src/app.py"]


def test_git_listing_includes_untracked_but_not_ignored(tmp_path: Path) -> None:
    _tree(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "src/app.py"], check=True)
    files = list_files(tmp_path)
    assert "src/app.py" in files and "docs/guide.md" in files  # tracked and untracked
    assert "debug.log" not in files and "src/build/out.py" not in files
    assert not any(f.startswith(("node_modules/", ".venv/")) for f in files)


def test_walk_memo_reuses_an_unchanged_tree_and_sees_changes(tmp_path: Path) -> None:
    _tree(tmp_path)
    old = time.time_ns() - 60 * 10**9  # older than the window in which mtimes are not trusted
    for directory in [tmp_path, *(p for p in tmp_path.rglob("*") if p.is_dir())]:
        os.utime(directory, ns=(old, old))
    os.utime(tmp_path / ".gitignore", ns=(old, old))
    memo: dict = {}
    first = list_files(tmp_path, memo)
    assert memo["files"] == first and "src" in memo["stamps"]
    memo["files"] = [*first, "only-in-memo.py"]  # proves the next call used the memo
    assert list_files(tmp_path, memo)[-1] == "only-in-memo.py"
    (tmp_path / "src" / "new.py").write_text("")  # src/ changes its mtime
    again = list_files(tmp_path, memo)
    assert "src/new.py" in again and "only-in-memo.py" not in again


def test_freshly_changed_directories_are_not_trusted(tmp_path: Path) -> None:
    _tree(tmp_path)
    memo: dict = {}
    list_files(tmp_path, memo)
    assert memo["stamps"]["src"] == -1  # just written: the next listing walks again


def test_vendored_code_is_listed_but_not_parsed(tmp_path: Path) -> None:
    from tools.codeintel.cache import TagCache

    (tmp_path / "static" / "vendor").mkdir(parents=True)
    (tmp_path / "static" / "vendor" / "lib.js").write_text("function vendored() {}\n")
    (tmp_path / "app.js").write_text("function own() {}\n")
    files = list_files(tmp_path)
    assert "static/vendor/lib.js" in files
    assert set(TagCache(tmp_path).refresh(files)) == {"app.js"}


def _age(*paths: Path, seconds_ago: int = 60) -> None:
    old = time.time_ns() - seconds_ago * 10**9
    for path in paths:
        os.utime(path, ns=(old, old), follow_symlinks=False)


def test_git_listing_memo_holds_until_the_tree_or_index_changes(tmp_path: Path) -> None:
    _tree(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "add", "src/app.py", ".gitignore"], check=True)
    (tmp_path / "scratch").mkdir()  # empty: no listed file shows its stamp
    _age(tmp_path, *tmp_path.rglob("*"))
    memo: dict = {}
    first = list_files(tmp_path, memo)
    assert "src/app.py" in first and memo["stamps"]
    listed_at = memo["listed_at"]
    assert list_files(tmp_path, memo) == first and memo["listed_at"] == listed_at

    # Each change below touches one thing only (dated so that it is trusted).
    (tmp_path / "scratch" / "later.py").write_text("")  # into the directory that was empty
    _age(tmp_path / "scratch", tmp_path / "scratch" / "later.py", seconds_ago=50)
    assert "scratch/later.py" in list_files(tmp_path, memo)
    assert memo["listed_at"] != listed_at

    with open(tmp_path / ".gitignore", "a") as ignore:  # the ignore rules alone
        ignore.write("scratch/\n")
    _age(tmp_path / ".gitignore", seconds_ago=40)
    assert "scratch/later.py" not in list_files(tmp_path, memo)

    subprocess.run([*git, "add", "-f", "debug.log"], check=True)  # the index alone
    _age(tmp_path / ".git" / "index", seconds_ago=30)
    assert "debug.log" in list_files(tmp_path, memo)
