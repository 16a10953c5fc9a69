"""Structured diffs and single-hunk revert, against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.git.helpers import git, index_state, tree_state, write
from tools.git import open_repo
from tools.git.checkpoints import create_checkpoint, list_checkpoints, restore_checkpoint
from tools.git.diffs import (
    HunkMismatch,
    diff_checkpoints,
    diff_staged,
    diff_worktree_vs_base,
    diff_worktree_vs_checkpoint,
    revert_hunk,
)
from tools.git.patch import FileDiff, parse_diff

LONG = "".join(f"line {i}\n" for i in range(1, 41))


def _by_path(diffs: list[FileDiff]) -> dict[str, FileDiff]:
    return {d.path: d for d in diffs}


def _base_repo(root: Path) -> None:
    write(root, "long.txt", LONG)
    write(root, "gone.txt", "to be deleted\n")
    write(root, "moved_from.py", "".join(f"def f{i}():\n    return {i}\n" for i in range(10)))
    write(root, "image.bin", bytes(range(256)))
    write(root, "script.sh", "#!/bin/sh\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")


def test_worktree_vs_base_statuses_and_hunks(repo_dir: Path) -> None:
    _base_repo(repo_dir)
    write(repo_dir, "long.txt", LONG.replace("line 3\n", "line three\n").replace("line 35\n", ""))
    (repo_dir / "gone.txt").unlink()
    moved = (repo_dir / "moved_from.py").read_text() + "# tail\n"
    (repo_dir / "moved_from.py").unlink()
    write(repo_dir, "moved to.py", moved)
    write(repo_dir, "image.bin", bytes(range(255, -1, -1)))
    (repo_dir / "script.sh").chmod(0o755)
    write(repo_dir, "brand new.txt", "hello\nworld")  # untracked, no final newline
    index_before = index_state(repo_dir)

    diffs = _by_path(diff_worktree_vs_base(open_repo(repo_dir)))

    assert index_state(repo_dir) == index_before  # diffing never writes the index
    assert set(diffs) == {
        "long.txt", "gone.txt", "moved to.py", "image.bin", "script.sh", "brand new.txt",
    }  # fmt: skip
    long = diffs["long.txt"]
    assert long.status == "modified" and len(long.hunks) == 2
    first, second = long.hunks
    assert (first.old_start, first.old_lines, first.new_start, first.new_lines) == (1, 6, 1, 6)
    assert ("-", "line 3") in first.lines and ("+", "line three") in first.lines
    assert second.lines.count(("-", "line 35")) == 1 and second.new_lines == second.old_lines - 1
    assert first.header.startswith("@@ -1,6 +1,6 @@")
    assert diffs["gone.txt"].status == "deleted"
    assert diffs["gone.txt"].hunks[0].lines == [("-", "to be deleted")]
    renamed = diffs["moved to.py"]
    assert (renamed.status, renamed.old_path) == ("renamed", "moved_from.py")
    assert renamed.hunks[0].lines[-1] == ("+", "# tail")
    assert diffs["image.bin"].binary and not diffs["image.bin"].hunks
    assert (diffs["script.sh"].old_mode, diffs["script.sh"].new_mode) == ("100644", "100755")
    new = diffs["brand new.txt"]
    assert new.status == "added" and new.hunks[0].lines == [("+", "hello"), ("+", "world")]
    assert new.hunks[0].new_missing_newline and not new.hunks[0].old_missing_newline


def test_staged_shows_only_the_index(repo_dir: Path) -> None:
    _base_repo(repo_dir)
    write(repo_dir, "long.txt", LONG.replace("line 10\n", "staged\n"))
    git(repo_dir, "add", "long.txt")
    write(repo_dir, "long.txt", LONG.replace("line 10\n", "staged\n").replace("line 30\n", "not\n"))
    write(repo_dir, "added.txt", "added\n")
    git(repo_dir, "add", "added.txt")
    write(repo_dir, "untracked.txt", "not staged\n")
    diffs = _by_path(diff_staged(open_repo(repo_dir)))
    assert set(diffs) == {"long.txt", "added.txt"}
    assert [k for h in diffs["long.txt"].hunks for k, t in h.lines if t == "staged"] == ["+"]
    assert len(diffs["long.txt"].hunks) == 1
    assert diffs["added.txt"].status == "added"


def test_staged_in_a_repo_without_commits(repo_dir: Path) -> None:
    write(repo_dir, "first.txt", "first\n")
    git(repo_dir, "add", "first.txt")
    diffs = diff_staged(open_repo(repo_dir))
    assert [(d.path, d.status) for d in diffs] == [("first.txt", "added")]


def test_vs_checkpoint_and_between_checkpoints(repo_dir: Path) -> None:
    _base_repo(repo_dir)
    write(repo_dir, "long.txt", LONG.replace("line 1\n", "before the checkpoint\n"))
    repo = open_repo(repo_dir)
    first = create_checkpoint(repo, "one")
    write(repo_dir, "long.txt", LONG.replace("line 1\n", "before the checkpoint\n") + "appended\n")
    write(repo_dir, "notes.md", "new since\n")
    diffs = _by_path(diff_worktree_vs_checkpoint(repo, first.id))
    assert set(diffs) == {"long.txt", "notes.md"}
    assert [line for h in diffs["long.txt"].hunks for line in h.lines if line[0] != " "] == [
        ("+", "appended")
    ]
    second = create_checkpoint(repo, "two")
    between = _by_path(diff_checkpoints(repo, first.id, second.id))
    assert set(between) == {"long.txt", "notes.md"}
    assert diff_checkpoints(repo, second.id, second.id) == []


def test_parse_quoted_and_spaced_names(repo_dir: Path) -> None:
    write(repo_dir, "plain.txt", "x\n")
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "-m", "base")
    names = ["a b/c d.txt", "tab\there.txt", "ünï.txt", "bin with space.dat"]
    for name in names[:3]:
        write(repo_dir, name, "text\n")
    write(repo_dir, names[3], b"\x00binary")
    diffs = _by_path(diff_worktree_vs_base(open_repo(repo_dir)))
    assert set(diffs) == set(names)
    assert diffs["bin with space.dat"].binary


def test_parse_crlf_and_no_newline_markers() -> None:
    patch = (
        b"diff --git a/f.txt b/f.txt\n"
        b"index 1111111..2222222 100644\n"
        b"--- a/f.txt\n"
        b"+++ b/f.txt\n"
        b"@@ -1,2 +1,2 @@ section name\n"
        b" keep\r\n"
        b"-old\n"
        b"\\ No newline at end of file\n"
        b"+new\r\n"
    )
    (diff,) = parse_diff(patch)
    (hunk,) = diff.hunks
    assert hunk.lines == [(" ", "keep\r"), ("-", "old"), ("+", "new\r")]
    assert hunk.old_missing_newline and not hunk.new_missing_newline
    assert hunk.section == "section name"
    assert (diff.old_mode, diff.new_mode) == ("100644", "100644")


def test_revert_hunk_reverts_exactly_one(repo_dir: Path) -> None:
    _base_repo(repo_dir)
    edited = LONG.replace("line 3\n", "line three\n").replace("line 35\n", "line 35 changed\n")
    write(repo_dir, "long.txt", edited)
    repo = open_repo(repo_dir)
    (diff,) = [d for d in diff_worktree_vs_base(repo) if d.path == "long.txt"]
    assert len(diff.hunks) == 2

    checkpoint = revert_hunk(repo, diff, diff.hunks[1])

    assert (repo_dir / "long.txt").read_text() == LONG.replace("line 3\n", "line three\n")
    (after,) = diff_worktree_vs_base(repo)
    assert len(after.hunks) == 1 and after.hunks[0].lines == diff.hunks[0].lines
    assert list_checkpoints(repo)[0].id == checkpoint.id
    restore_checkpoint(repo, checkpoint.id)  # the revert itself can be undone
    assert (repo_dir / "long.txt").read_text() == edited


def test_revert_hunk_after_an_earlier_hunk_shifted_lines(repo_dir: Path) -> None:
    _base_repo(repo_dir)
    edited = LONG.replace("line 3\n", "added a\nadded b\nline 3\n").replace(
        "line 35\n", "line 35 changed\n"
    )
    write(repo_dir, "long.txt", edited)
    repo = open_repo(repo_dir)
    (diff,) = [d for d in diff_worktree_vs_base(repo) if d.path == "long.txt"]
    revert_hunk(repo, diff, diff.hunks[0])  # the second hunk now sits two lines higher
    revert_hunk(repo, diff, diff.hunks[1])
    assert (repo_dir / "long.txt").read_text() == LONG


def test_revert_hunk_of_added_and_deleted_files(repo_dir: Path) -> None:
    _base_repo(repo_dir)
    write(repo_dir, "new.txt", "only\nnew\n")
    (repo_dir / "gone.txt").unlink()
    repo = open_repo(repo_dir)
    diffs = _by_path(diff_worktree_vs_base(repo))
    revert_hunk(repo, diffs["new.txt"], diffs["new.txt"].hunks[0])
    revert_hunk(repo, diffs["gone.txt"], diffs["gone.txt"].hunks[0])
    assert not (repo_dir / "new.txt").exists()
    assert (repo_dir / "gone.txt").read_text() == "to be deleted\n"
    assert diff_worktree_vs_base(repo) == []


def test_revert_hunk_refuses_a_stale_hunk(repo_dir: Path) -> None:
    _base_repo(repo_dir)
    write(repo_dir, "long.txt", LONG.replace("line 20\n", "agent edit\n"))
    repo = open_repo(repo_dir)
    (diff,) = diff_worktree_vs_base(repo)
    write(repo_dir, "long.txt", LONG.replace("line 20\n", "user edited it again\n"))
    before = tree_state(repo_dir)
    with pytest.raises(HunkMismatch):
        revert_hunk(repo, diff, diff.hunks[0])
    assert tree_state(repo_dir) == before


def test_diff_vs_unknown_base_is_a_clear_error(repo_dir: Path) -> None:
    _base_repo(repo_dir)
    with pytest.raises(ValueError, match="does not name a commit"):
        diff_worktree_vs_base(open_repo(repo_dir), "no-such-branch")
