"""Task worktrees and applying their changes, on real repositories: the start point holds
the user's uncommitted and untracked files, the user's tree is never touched until the
apply, an apply is three-way and all or nothing, and undo after it restores every byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.git.helpers import git, index_state, make_repo, tree_state, write
from tools.git.apply import ApplyConflict, apply_changes
from tools.git.checkpoints import restore_checkpoint
from tools.git.diffs import diff_trees
from tools.git.repo import open_repo
from tools.git.worktrees import (
    TaskWorktree,
    WorktreeError,
    create_worktree,
    diff_size,
    remove_worktree,
    result_commit,
    tree_of,
)

LINES = "".join(f"line {n}\n" for n in range(1, 31))


def committed(root: Path, files: dict[str, str | bytes]) -> Path:
    make_repo(root)
    for rel, data in files.items():
        write(root, rel, data)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


def start(root: Path, where: Path, name: str = "run1") -> TaskWorktree:
    return create_worktree(open_repo(root), where / name, f"tessera/{name}")


def apply(root: Path, wt: TaskWorktree, chosen=None):
    repo = open_repo(root)
    return apply_changes(repo, wt.base, result_commit(repo, wt), "apply", chosen)


def test_the_worktree_holds_uncommitted_and_untracked_changes_exactly(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo", {"a.py": "x = 1\n", "crlf.txt": b"one\r\ntwo\r\n",
                                         ".gitattributes": "*.id ident\n", "v.id": "$Id$\n"})
    write(root, "a.py", "x = 2  # not committed\n")
    write(root, "new.py", "print('untracked')\n")
    write(root, "tool.sh", "#!/bin/sh\n", mode=0o755)
    write(root, ".gitignore", "build/\n")
    write(root, "build/out.bin", b"ignored")
    before = (tree_state(root), index_state(root), git(root, "status", "--porcelain"))
    wt = start(root, tmp_path / "wts")
    linked = Path(wt.path)
    assert (linked / "a.py").read_text() == "x = 2  # not committed\n"
    assert (linked / "new.py").read_text() == "print('untracked')\n"
    assert (linked / "crlf.txt").read_bytes() == b"one\r\ntwo\r\n"
    assert (linked / "v.id").read_text() == "$Id$\n"  # checkout would have expanded it
    assert (linked / "tool.sh").stat().st_mode & 0o111
    assert not (linked / "build").exists()  # ignored files are not copied
    assert git(linked, "status", "--porcelain") == ""
    assert git(root, "rev-parse", f"{wt.base}^") == git(root, "rev-parse", "HEAD")
    assert git(linked, "symbolic-ref", "HEAD").strip() == "refs/heads/tessera/run1"
    assert (tree_state(root), index_state(root), git(root, "status", "--porcelain")) == before


def test_two_runs_on_one_file_conflict_on_the_second_apply(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo", {"calc.py": "def add(a, b):\n    return a - b\n"})
    first, second = start(root, tmp_path / "wts", "one"), start(root, tmp_path / "wts", "two")
    write(Path(first.path), "calc.py", "def add(a, b):\n    return a + b\n")
    write(Path(second.path), "calc.py", "def add(a, b):\n    return b + a\n")
    assert (root / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"
    result = apply(root, first)
    assert result.written == ["calc.py"]
    assert (root / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    before = (tree_state(root), index_state(root))
    with pytest.raises(ApplyConflict) as conflict:
        apply(root, second)
    assert list(conflict.value.files) == ["calc.py"]
    assert "Merge conflict in calc.py" in conflict.value.files["calc.py"][0]
    assert (tree_state(root), index_state(root)) == before


def test_user_edits_made_during_the_run_survive_and_undo_restores_every_byte(
    tmp_path: Path,
) -> None:
    root = committed(tmp_path / "repo", {"doc.txt": LINES, "old.txt": "to delete\n"})
    wt = start(root, tmp_path / "wts")
    linked = Path(wt.path)
    write(linked, "doc.txt", LINES.replace("line 25\n", "line 25 by the run\n"))
    write(linked, "added/by_run.py", "run = True\n")
    (linked / "old.txt").unlink()
    write(root, "doc.txt", LINES.replace("line 2\n", "line 2 by the user\n"))
    write(root, "notes.md", "the user's own untracked notes\n")
    git(root, "add", "notes.md")
    before = (tree_state(root), index_state(root))
    result = apply(root, wt)
    text = (root / "doc.txt").read_text()
    assert "line 2 by the user\n" in text and "line 25 by the run\n" in text
    assert (root / "added/by_run.py").read_text() == "run = True\n"
    assert not (root / "old.txt").exists()
    assert (root / "notes.md").read_text() == "the user's own untracked notes\n"
    assert index_state(root) == before[1]  # the changes land unstaged
    assert sorted(result.written) == ["added/by_run.py", "doc.txt"]
    restore_checkpoint(open_repo(root))
    assert (tree_state(root), index_state(root)) == before


def test_only_the_chosen_hunks_are_applied(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo", {"doc.txt": LINES, "other.txt": "a\n"})
    wt = start(root, tmp_path / "wts")
    linked = Path(wt.path)
    changed = LINES.replace("line 3\n", "line 3 first\n").replace("line 27\n", "line 27 second\n")
    write(linked, "doc.txt", changed)
    write(linked, "other.txt", "b\n")
    repo = open_repo(root)
    diffs = diff_trees(repo, tree_of(repo, wt.base), tree_of(repo, result_commit(repo, wt)))
    doc = next(d for d in diffs if d.path == "doc.txt")
    assert len(doc.hunks) == 2
    apply(root, wt, [(doc, doc.hunks[1])])
    assert (root / "doc.txt").read_text() == LINES.replace("line 27\n", "line 27 second\n")
    assert (root / "other.txt").read_text() == "a\n"


def test_no_commits_detached_head_and_submodules_get_clear_notes(tmp_path: Path) -> None:
    fresh = make_repo(tmp_path / "fresh")
    write(fresh, "first.py", "print(1)\n")
    wt = start(fresh, tmp_path / "wts", "fresh")
    assert wt.head is None and "no commits yet" in wt.notes[0]
    write(Path(wt.path), "first.py", "print(2)\n")
    apply(fresh, wt)
    assert (fresh / "first.py").read_text() == "print(2)\n"
    assert git(fresh, "rev-parse", "--verify", "-q", "HEAD", check=False) == ""

    root = committed(tmp_path / "repo", {"a.txt": "a\n"})
    git(root, "checkout", "-q", "--detach")
    detached = start(root, tmp_path / "wts", "detached")
    assert "HEAD is detached" in detached.notes[0]

    sub = committed(tmp_path / "sub", {"s.txt": "s\n"})
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "lib")
    with_sub = start(root, tmp_path / "wts", "sub")
    assert any("submodules are not checked out" in n and "lib" in n for n in with_sub.notes)
    write(Path(with_sub.path), "a.txt", "changed\n")
    apply(root, with_sub)
    assert (root / "a.txt").read_text() == "changed\n"
    assert (root / "lib/s.txt").read_text() == "s\n"


def test_an_lfs_repository_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo", {".gitattributes": "*.bin filter=lfs diff=lfs\n"})
    with pytest.raises(WorktreeError, match="Git LFS"):
        start(root, tmp_path / "wts")
    assert not (tmp_path / "wts" / "run1").exists()
    assert git(root, "branch", "--list", "tessera/*") == ""


def test_discard_removes_the_worktree_and_the_branch(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo", {"a.txt": "a\n"})
    wt = start(root, tmp_path / "wts")
    write(Path(wt.path), "a.txt", "b\n")
    repo = open_repo(root)
    assert str(diff_size(repo, wt.base, result_commit(repo, wt))) == "1 file(s) +1 -1"
    remove_worktree(repo, wt, branch=True)
    assert not Path(wt.path).exists()
    assert git(root, "branch", "--list", "tessera/*") == ""
    assert "run1" not in git(root, "worktree", "list")
    assert (root / "a.txt").read_text() == "a\n"
