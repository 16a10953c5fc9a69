"""Checkpoints and restore against real git repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.tools.git.helpers import (
    git,
    index_state,
    make_repo,
    refs_state,
    tree_state,
    write,
)
from tools.git import NotAGitRepo, open_repo
from tools.git.checkpoints import (
    NothingToUndo,
    RestoreConflict,
    RestoreFailed,
    create_checkpoint,
    get_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    restore_checkpoint,
)


def _dirty_repo(root: Path) -> None:
    """Committed files, a stash entry, and staged, unstaged, partly staged, untracked work."""
    write(root, "a.py", "print('a')\n")
    write(root, "b.py", "print('b')\n")
    write(root, "c.py", "one\ntwo\nthree\n")
    for i in range(3):
        write(root, f"pkg/mod{i}.py", f"value = {i}\n")
    write(root, "pkg/sub/deep.py", "deep = True\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    write(root, "b.py", "stashed edit\n")
    git(root, "stash", "-q")
    write(root, "a.py", "print('a, staged')\n")
    git(root, "add", "a.py")
    write(root, "b.py", "print('b, unstaged')\n")
    write(root, "c.py", "one\nTWO\nthree\n")
    git(root, "add", "c.py")
    write(root, "c.py", "one\nTWO\nthree\nfour (unstaged)\n")
    write(root, "pkg/mod1.py", "value = 'unstaged in pkg'\n")
    write(root, "notes.txt", "untracked notes\n")
    write(root, "new dir/untracked é.md", "untracked in a new folder\n")


def _snapshot_everything(root: Path) -> tuple[object, ...]:
    return tree_state(root), index_state(root), refs_state(root)


def test_restore_undoes_overwrite_delete_and_shell_rm_rf(repo_dir: Path) -> None:
    _dirty_repo(repo_dir)
    status_before = git(repo_dir, "status", "--porcelain")
    files_before, index_before, refs_before = _snapshot_everything(repo_dir)
    raw_index_before = (repo_dir / ".git" / "index").read_bytes()
    repo = open_repo(repo_dir)

    checkpoint = create_checkpoint(repo, "before step 1")

    # Taking a checkpoint changes nothing the user can see.
    assert _snapshot_everything(repo_dir) == (files_before, index_before, refs_before)
    assert (repo_dir / ".git" / "index").read_bytes() == raw_index_before
    assert checkpoint.ref == f"refs/tessera/checkpoints/{checkpoint.id}"
    assert git(repo_dir, "rev-parse", checkpoint.ref).strip() == checkpoint.commit_sha
    assert checkpoint.files == len(files_before)

    # The step: an edit tool overwrites, another deletes, and a shell removes a folder
    # and stages what is left.
    write(repo_dir, "a.py", "overwritten by the agent\n")
    (repo_dir / "b.py").unlink()
    subprocess.run(["bash", "-c", "rm -rf pkg && echo made > created.py"], cwd=repo_dir, check=True)
    git(repo_dir, "add", "-A")
    assert tree_state(repo_dir) != files_before
    assert index_state(repo_dir) != index_before

    result = restore_checkpoint(repo, checkpoint.id)

    assert tree_state(repo_dir) == files_before
    assert index_state(repo_dir) == index_before
    assert refs_state(repo_dir) == refs_before
    assert result.removed == ["created.py"]
    assert {"a.py", "b.py", "pkg/mod0.py", "pkg/sub/deep.py"} <= set(result.restored)
    assert result.head_moved is None
    assert git(repo_dir, "status", "--porcelain") == status_before


def test_undo_can_be_undone_and_steps_back(repo_dir: Path) -> None:
    _dirty_repo(repo_dir)
    repo = open_repo(repo_dir)
    first_state = tree_state(repo_dir)
    create_checkpoint(repo, "step 1")
    write(repo_dir, "a.py", "after step 1\n")
    second_state = tree_state(repo_dir)
    create_checkpoint(repo, "step 2")
    write(repo_dir, "a.py", "after step 2\n")
    third_state = tree_state(repo_dir)

    undo = restore_checkpoint(repo)  # newest by default
    assert undo.checkpoint.label == "step 2"
    assert tree_state(repo_dir) == second_state
    again = restore_checkpoint(repo)  # the newest equals now, so one step further back
    assert again.checkpoint.label == "step 1"
    assert tree_state(repo_dir) == first_state

    restore_checkpoint(repo, undo.safety.id)  # undo the first undo
    assert tree_state(repo_dir) == third_state
    kinds = [c.kind for c in list_checkpoints(repo)]
    assert kinds.count("safety") == 3 and kinds.count("checkpoint") == 2


def test_nothing_to_undo_leaves_no_checkpoint(repo_dir: Path) -> None:
    write(repo_dir, "a.txt", "a\n")
    repo = open_repo(repo_dir)
    create_checkpoint(repo, "only")
    with pytest.raises(NothingToUndo):
        restore_checkpoint(repo)
    assert [c.label for c in list_checkpoints(repo)] == ["only"]


def test_repo_without_commits(repo_dir: Path) -> None:
    write(repo_dir, "staged.txt", "staged\n")
    git(repo_dir, "add", "staged.txt")
    write(repo_dir, "loose.txt", "untracked\n")
    before = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "unborn")
    assert checkpoint.head is None
    assert git(repo_dir, "rev-parse", "-q", "--verify", "HEAD", check=False) == ""
    subprocess.run(["bash", "-c", "rm -f *.txt && git add -A"], cwd=repo_dir, check=True)
    restore_checkpoint(repo, checkpoint.id)
    assert _snapshot_everything(repo_dir) == before


def test_detached_head(repo_dir: Path) -> None:
    write(repo_dir, "f.txt", "v1\n")
    git(repo_dir, "add", "f.txt")
    git(repo_dir, "commit", "-q", "-m", "one")
    write(repo_dir, "f.txt", "v2\n")
    git(repo_dir, "commit", "-q", "-am", "two")
    git(repo_dir, "checkout", "-q", "--detach", "HEAD~1")
    write(repo_dir, "f.txt", "edited while detached\n")
    before = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "detached")
    assert checkpoint.branch is None
    write(repo_dir, "f.txt", "clobbered\n")
    restore_checkpoint(repo, checkpoint.id)
    assert _snapshot_everything(repo_dir) == before


def test_linked_worktree_keeps_its_own_checkpoints(repo_dir: Path, tmp_path: Path) -> None:
    write(repo_dir, "f.txt", "main\n")
    git(repo_dir, "add", "f.txt")
    git(repo_dir, "commit", "-q", "-m", "one")
    worktree = tmp_path / "wt"
    git(repo_dir, "worktree", "add", "-q", "-b", "feature", str(worktree))
    write(worktree, "f.txt", "edited in the worktree\n")
    write(worktree, "extra.txt", "untracked in the worktree\n")
    before = _snapshot_everything(worktree)
    main_before = _snapshot_everything(repo_dir)

    wt_repo = open_repo(worktree)
    assert wt_repo.root == worktree.resolve() and wt_repo.worktree_id == "wt"
    checkpoint = create_checkpoint(wt_repo, "in worktree")
    assert list_checkpoints(open_repo(repo_dir)) == []
    assert [c.id for c in list_checkpoints(open_repo(repo_dir), all_worktrees=True)] == [
        checkpoint.id
    ]

    subprocess.run(["bash", "-c", "rm -rf ./* && echo x > junk"], cwd=worktree, check=True)
    restore_checkpoint(wt_repo, checkpoint.id)
    assert _snapshot_everything(worktree) == before
    assert _snapshot_everything(repo_dir) == main_before


def test_exec_bit_and_symlinks_restored(repo_dir: Path) -> None:
    write(repo_dir, "run.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    write(repo_dir, "plain.sh", "#!/bin/sh\n", mode=0o644)
    write(repo_dir, "target.txt", "target\n")
    os.symlink("target.txt", repo_dir / "link")
    os.symlink("missing/elsewhere", repo_dir / "dangling")
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "-m", "modes")
    os.symlink("run.sh", repo_dir / "new-link")  # untracked symlink
    before = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "modes")

    (repo_dir / "run.sh").chmod(0o644)
    (repo_dir / "plain.sh").chmod(0o755)
    (repo_dir / "link").unlink()
    write(repo_dir, "link", "now a regular file\n")
    (repo_dir / "dangling").unlink()
    (repo_dir / "new-link").unlink()
    os.symlink("target.txt", repo_dir / "new-link")

    restore_checkpoint(repo, checkpoint.id)
    assert _snapshot_everything(repo_dir) == before
    assert os.readlink(repo_dir / "link") == "target.txt"
    assert os.access(repo_dir / "run.sh", os.X_OK)
    assert not os.access(repo_dir / "plain.sh", os.X_OK)


def test_names_with_spaces_unicode_and_newlines(repo_dir: Path) -> None:
    names = ["with space.txt", "ünïcödé/файл.py", "tab\there.txt", "new\nline.txt", '"quoted".txt']
    for name in names:
        write(repo_dir, name, f"content of {name}\n")
    git(repo_dir, "add", names[0], names[1])
    git(repo_dir, "commit", "-q", "-m", "names")
    before = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "names")
    assert checkpoint.files == len(names)
    for name in names:
        (repo_dir / name).unlink()
    restore_checkpoint(repo, checkpoint.id)
    assert _snapshot_everything(repo_dir) == before


def test_ignored_files_are_never_touched(repo_dir: Path) -> None:
    write(repo_dir, ".gitignore", "*.log\nbuild/\n")
    write(repo_dir, "src.py", "x = 1\n")
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "-m", "ignore rules")
    write(repo_dir, "old.log", "log at checkpoint time\n")
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "with ignored files")
    snapshot = git(repo_dir, "ls-tree", "-r", "--name-only", checkpoint.commit_sha).split("\n")
    assert "old.log" not in snapshot and "src.py" in snapshot

    write(repo_dir, "old.log", "log changed since\n")
    write(repo_dir, "build/out.bin", b"\x00\x01")
    write(repo_dir, "src.py", "x = 2\n")
    ignored_after = {p: s for p, s in tree_state(repo_dir).items() if p.endswith((".log", ".bin"))}
    restore_checkpoint(repo, checkpoint.id)
    assert (repo_dir / "src.py").read_text() == "x = 1\n"
    now = tree_state(repo_dir)
    assert {p: now[p] for p in ignored_after} == ignored_after


def test_file_ignored_again_by_restored_rules_is_kept(repo_dir: Path) -> None:
    write(repo_dir, ".gitignore", "*.log\n")
    write(repo_dir, "src.py", "x = 1\n")
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "-m", "rules")
    write(repo_dir, "debug.log", "ignored when the checkpoint was taken\n")
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "rules")
    write(repo_dir, ".gitignore", "")  # the step stops ignoring logs
    result = restore_checkpoint(repo, checkpoint.id)
    assert (repo_dir / "debug.log").read_text() == "ignored when the checkpoint was taken\n"
    assert result.kept_ignored == ["debug.log"]
    assert (repo_dir / ".gitignore").read_text() == "*.log\n"


def test_restore_refuses_to_delete_ignored_file_in_the_way(repo_dir: Path) -> None:
    write(repo_dir, ".gitignore", "*.log\n")
    write(repo_dir, "data", "a file at checkpoint time\n")
    write(repo_dir, "other.txt", "before\n")
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "data is a file")
    (repo_dir / "data").unlink()
    write(repo_dir, "data/precious.log", "ignored, must survive\n")
    write(repo_dir, "other.txt", "after\n")
    with pytest.raises(RestoreConflict, match="Nothing was changed"):
        restore_checkpoint(repo, checkpoint.id)
    assert (repo_dir / "other.txt").read_text() == "after\n"
    assert (repo_dir / "data/precious.log").read_text() == "ignored, must survive\n"


def test_folder_created_where_a_file_was_is_replaced(repo_dir: Path) -> None:
    write(repo_dir, "data", "a file at checkpoint time\n")
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "data is a file")
    before = tree_state(repo_dir)
    (repo_dir / "data").unlink()
    write(repo_dir, "data/nested/new.txt", "created by the step\n")
    result = restore_checkpoint(repo, get_checkpoint(repo, checkpoint.id[:-2]).id)
    assert tree_state(repo_dir) == before
    assert result.removed == ["data/nested/new.txt"]


def test_merge_conflict_index_is_restored(repo_dir: Path) -> None:
    write(repo_dir, "f.txt", "base\n")
    git(repo_dir, "add", "f.txt")
    git(repo_dir, "commit", "-q", "-m", "base")
    git(repo_dir, "checkout", "-q", "-b", "other")
    write(repo_dir, "f.txt", "other\n")
    git(repo_dir, "commit", "-q", "-am", "other")
    git(repo_dir, "checkout", "-q", "main")
    write(repo_dir, "f.txt", "main\n")
    git(repo_dir, "commit", "-q", "-am", "main")
    git(repo_dir, "merge", "-q", "other", check=False)
    assert " 3\tf.txt" in git(repo_dir, "ls-files", "-s")  # conflict stages present
    before = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "mid-merge")
    assert checkpoint.conflicts_tree is not None
    write(repo_dir, "f.txt", "resolved\n")
    git(repo_dir, "add", "f.txt")
    restore_checkpoint(repo, checkpoint.id)
    assert _snapshot_everything(repo_dir) == before


def test_exact_bytes_despite_eol_attributes_and_filters(repo_dir: Path) -> None:
    write(repo_dir, ".gitattributes", "*.txt text eol=lf\n*.dat filter=boom\n")
    git(repo_dir, "config", "filter.boom.clean", "false")  # a filter that always fails
    git(repo_dir, "config", "filter.boom.required", "true")
    write(repo_dir, "crlf.txt", b"line one\r\nline two\r\n")
    write(repo_dir, "blob.dat", b"raw \x00 bytes\r\n")
    repo = open_repo(repo_dir)
    before = tree_state(repo_dir)
    checkpoint = create_checkpoint(repo, "attributes")
    write(repo_dir, "crlf.txt", "changed\n")
    (repo_dir / "blob.dat").unlink()
    restore_checkpoint(repo, checkpoint.id)
    assert tree_state(repo_dir) == before


def test_nested_repository_without_commit_is_left_out(repo_dir: Path) -> None:
    write(repo_dir, "top.txt", "top\n")
    make_repo(repo_dir / "vendor" / "lib")
    write(repo_dir, "vendor/lib/inner.txt", "inner\n")
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "nested")
    assert any("vendor/lib" in w for w in checkpoint.warnings)
    write(repo_dir, "top.txt", "changed\n")
    restore_checkpoint(repo, checkpoint.id)
    assert (repo_dir / "top.txt").read_text() == "top\n"
    assert (repo_dir / "vendor/lib/inner.txt").read_text() == "inner\n"


HOOKS = ("pre-commit", "post-commit", "reference-transaction", "post-checkout", "post-index-change")


def test_host_hooks_and_fsmonitor_never_run(repo_dir: Path) -> None:
    write(repo_dir, "f.txt", "one\n")
    git(repo_dir, "add", "f.txt")
    git(repo_dir, "commit", "-q", "-m", "one")
    marker = repo_dir.parent / "hook-ran"
    for hook in HOOKS:
        write(repo_dir, f".git/hooks/{hook}", f"#!/bin/sh\necho {hook} >> '{marker}'\n", 0o755)
    monitor = write(
        repo_dir.parent, "fsmonitor.sh", f"#!/bin/sh\necho fsmonitor >> '{marker}'\n", 0o755
    )
    git(repo_dir, "config", "core.fsmonitor", str(monitor))
    write(repo_dir, "f.txt", "two\n")
    write(repo_dir, "g.txt", "untracked\n")
    repo = open_repo(repo_dir)

    checkpoint = create_checkpoint(repo, "hooks")
    write(repo_dir, "f.txt", "three\n")
    restore_checkpoint(repo, checkpoint.id)
    from tools.git.diffs import diff_worktree_vs_base

    diff_worktree_vs_base(repo)
    assert not marker.exists(), marker.read_text()

    # The hooks are real: plain git runs them.
    git(repo_dir, "commit", "-q", "--allow-empty", "-m", "plain commit")
    assert "pre-commit" in marker.read_text()


def test_not_a_git_repo_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotAGitRepo) as info:
        open_repo(tmp_path)
    message = str(info.value)
    assert "git init" in message and "without checkpoints" in message
    with pytest.raises(NotAGitRepo, match="does not exist"):
        open_repo(tmp_path / "missing")


def test_missing_git_is_a_clear_error(
    repo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(NotAGitRepo, match=r"git is not on PATH.*install git"):
        open_repo(repo_dir)


def test_open_repo_from_a_subfolder(repo_dir: Path) -> None:
    write(repo_dir, "deep/er/file.txt", "x\n")
    assert open_repo(repo_dir / "deep" / "er").root == repo_dir.resolve()


def test_prune_keeps_the_newest(repo_dir: Path) -> None:
    repo = open_repo(repo_dir)
    for i in range(5):
        write(repo_dir, "f.txt", f"{i}\n")
        create_checkpoint(repo, f"c{i}", keep=3)
    assert [c.label for c in list_checkpoints(repo)] == ["c4", "c3", "c2"]
    older = [c.id for c in list_checkpoints(repo)[1:]]
    assert prune_checkpoints(repo, 1) == older
    assert [c.label for c in list_checkpoints(repo)] == ["c4"]
    assert git(repo_dir, "for-each-ref", "refs/tessera").count("\n") == 1


def test_restore_undoes_changes_made_through_the_bash_tool(repo_dir: Path) -> None:
    from tools.base import ToolContext
    from tools.shell import Bash

    _dirty_repo(repo_dir)
    before = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "before the agent's shell command")
    result = Bash().invoke(
        {"command": "rm -rf pkg && rm b.py && echo clobbered > a.py && touch made-by-shell.txt"},
        ToolContext(repo=repo_dir),
    )
    assert result.ok, result.text
    assert not (repo_dir / "pkg").exists() and (repo_dir / "made-by-shell.txt").exists()
    restore_checkpoint(repo, checkpoint.id)
    assert _snapshot_everything(repo_dir) == before


def test_restore_after_git_reset_hard_and_clean(repo_dir: Path) -> None:
    _dirty_repo(repo_dir)
    before = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "before the agent cleans up")
    subprocess.run(
        ["bash", "-c", "git reset -q --hard && git clean -qfd"], cwd=repo_dir, check=True
    )
    assert not (repo_dir / "notes.txt").exists()
    result = restore_checkpoint(repo, checkpoint.id)
    assert _snapshot_everything(repo_dir) == before
    assert result.head_moved is None


def test_restore_after_head_moved_keeps_head_and_reports_it(repo_dir: Path) -> None:
    _dirty_repo(repo_dir)
    files_before, (ls_files_before, _), _ = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "before the agent commits")
    git(repo_dir, "commit", "-q", "-am", "agent commit")
    new_head = git(repo_dir, "rev-parse", "HEAD").strip()
    write(repo_dir, "a.py", "more agent work\n")

    result = restore_checkpoint(repo, checkpoint.id)

    assert tree_state(repo_dir) == files_before
    assert git(repo_dir, "ls-files", "-s") == ls_files_before
    assert git(repo_dir, "rev-parse", "HEAD").strip() == new_head  # HEAD never moves
    assert result.head_moved == (checkpoint.head, new_head)


def test_same_size_rewrite_right_after_git_add_is_captured(repo_dir: Path) -> None:
    """Git's racy-clean rule: a file changed in the same second the index was written
    must be re-read, so the snapshot's copy of the index has to keep the real index's
    mtime (a fresh mtime would make git trust the stale stat data)."""
    import time

    index = repo_dir / ".git" / "index"
    for round_ in range(5):
        write(repo_dir, "same.bin", bytes([round_]) * 64)
        git(repo_dir, "add", "same.bin")
        write(repo_dir, "same.bin", bytes([round_ + 100]) * 64)  # same size
        if int(os.stat(repo_dir / "same.bin").st_mtime) == int(index.stat().st_mtime):
            break
    time.sleep(1.1)  # the checkpoint happens in a later second than the index write
    checkpoint = create_checkpoint(open_repo(repo_dir), "racy")
    stored = git(repo_dir, "cat-file", "blob", f"{checkpoint.commit_sha}:same.bin")
    assert stored.encode("utf-8", "surrogateescape") == bytes([round_ + 100]) * 64


def test_intent_to_add_and_empty_files_in_the_index(repo_dir: Path) -> None:
    write(repo_dir, "a.txt", "a\n")
    write(repo_dir, "pkg/__init__.py", "")  # a real empty blob, staged
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "-m", "base")
    write(repo_dir, "planned.py", "later\n")
    git(repo_dir, "add", "-N", "planned.py")
    before = _snapshot_everything(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "ita")
    assert checkpoint.intent_to_add == ("planned.py",)
    git(repo_dir, "add", "planned.py")
    write(repo_dir, "planned.py", "changed\n")
    restore_checkpoint(repo, checkpoint.id)
    assert _snapshot_everything(repo_dir) == before
    assert git(repo_dir, "status", "--porcelain") == " A planned.py\n"


def test_large_untracked_files_are_left_out_and_left_alone(repo_dir: Path) -> None:
    write(repo_dir, "small.txt", "small\n")
    write(repo_dir, "out/model.bin", b"\x01" * 5000)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "big output", max_untracked_bytes=4096)
    assert checkpoint.warnings == ("left out untracked file over the size limit: out/model.bin",)
    assert "out/model.bin" not in git(repo_dir, "ls-tree", "-r", "--name-only", checkpoint.tree)
    write(repo_dir, "out/model.bin", b"\x02" * 6000)
    write(repo_dir, "small.txt", "changed\n")
    result = restore_checkpoint(repo, checkpoint.id)
    assert (repo_dir / "small.txt").read_text() == "small\n"
    assert (repo_dir / "out/model.bin").read_bytes() == b"\x02" * 6000
    assert result.removed == []
    # Shrunk below the limit it is in the current snapshot but still not the target's to
    # delete: the target left it out on purpose.
    write(repo_dir, "out/model.bin", b"\x03" * 100)
    result = restore_checkpoint(repo, checkpoint.id)
    assert (repo_dir / "out/model.bin").read_bytes() == b"\x03" * 100
    assert result.skipped == ["out/model.bin"]


def test_untracked_dependency_folders_are_left_out_and_left_alone(repo_dir: Path) -> None:
    write(repo_dir, "venv/tracked.py", "committed on purpose\n")
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "-m", "a tracked folder named venv")
    write(repo_dir, "venv/new.py", "untracked, but its folder is tracked\n")
    write(repo_dir, "node_modules/pkg/index.js", "module.exports = 1\n")
    write(repo_dir, "src/__pycache__/m.cpython-311.pyc", b"\x00pyc")
    write(repo_dir, "src/m.py", "x = 1\n")
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "deps")
    saved = git(repo_dir, "ls-tree", "-r", "--name-only", checkpoint.tree).split()
    assert saved == ["src/m.py", "venv/new.py", "venv/tracked.py"]
    assert checkpoint.left_out == ("node_modules", "src/__pycache__")

    write(repo_dir, "node_modules/pkg/index.js", "module.exports = 2\n")
    write(repo_dir, "node_modules/other/new.js", "installed later\n")
    write(repo_dir, "src/m.py", "x = 2\n")
    result = restore_checkpoint(repo, checkpoint.id)
    assert (repo_dir / "src/m.py").read_text() == "x = 1\n"
    assert (repo_dir / "node_modules/pkg/index.js").read_text() == "module.exports = 2\n"
    assert (repo_dir / "node_modules/other/new.js").exists()
    assert result.removed == []


def test_restore_that_fails_part_way_names_the_safety_checkpoint(
    repo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dirty_repo(repo_dir)
    repo = open_repo(repo_dir)
    checkpoint = create_checkpoint(repo, "target")
    subprocess.run(["bash", "-c", "rm -rf pkg && echo step > a.py"], cwd=repo_dir, check=True)
    after_step = _snapshot_everything(repo_dir)
    real_replace = os.replace
    calls = []

    def disk_full_on_third_write(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", disk_full_on_third_write)
    with pytest.raises(RestoreFailed, match="No space left") as info:
        restore_checkpoint(repo, checkpoint.id)
    monkeypatch.setattr(os, "replace", real_replace)
    safety = list_checkpoints(repo)[0]
    assert safety.kind == "safety" and f"tessera undo --to {safety.id}" in str(info.value)
    assert not list(repo_dir.rglob("*.tessera-*"))  # no temp files left behind
    restore_checkpoint(repo, safety.id)
    assert _snapshot_everything(repo_dir) == after_step
