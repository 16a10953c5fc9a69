"""Bringing a run's changes into the user's work tree: a three-way merge, all or nothing.

The run changed its start point B into R; the user's tree went from B to C meanwhile.
The result is C with the run's changes, merged by `git merge-tree` with B as the merge
base (two commits on B: one of C, one of R), so the user's edits are kept. A checkpoint
of C is taken first (`tessera undo` reverts the apply); a conflict changes nothing and
is reported per file. The changes land as uncommitted changes: the index, HEAD and
branches are not touched. With a choice of hunks, R is first rebuilt from B with only
those hunks (`selected_tree`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tools.git.checkpoints import Checkpoint, create_checkpoint
from tools.git.diffs import hunk_side_bytes, split_lines
from tools.git.patch import FileDiff, Hunk
from tools.git.repo import GitError, GitRepo
from tools.git.restore import RestoreConflict, RestoreFailed, restore_files
from tools.git.snapshot import decode_path, encode_path, temp_index
from tools.git.worktrees import commit, tree_of

# Merge drivers and attribute files could make git run a program: raw bytes only.
_MERGE_SETTINGS = ("core.attributesFile=/dev/null", "merge.renormalize=false",
                   "core.autocrlf=false")


class ApplyConflict(Exception):
    """The run's changes and the user's meet in the same lines (or files); nothing was
    changed. `files` maps each conflicting path to git's words about it."""

    def __init__(self, files: dict[str, list[str]]) -> None:
        self.files = files
        listed = "; ".join(f"{path}: {' '.join(why) or 'conflict'}" for path, why in files.items())
        super().__init__(f"the run's changes conflict with your tree in {len(files)} "
                         f"file(s), nothing was applied: {listed}")


@dataclass
class ApplyResult:
    checkpoint: Checkpoint  # the tree just before: `tessera undo` brings it back
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


Chosen = list[tuple[FileDiff, Hunk | None]]  # a hunk, or None for a file without hunks


def apply_changes(repo: GitRepo, base: str, result: str, label: str,
                  chosen: Chosen | None = None) -> ApplyResult:
    """Merge the change base→result (commits) into `repo`'s work tree; only the `chosen`
    hunks of it when given (from `diff_trees(base tree, result tree)`). Raises
    ApplyConflict (nothing changed) or tools.git.restore's errors."""
    if chosen is not None:
        result = commit(repo, selected_tree(repo, tree_of(repo, base), tree_of(repo, result),
                                            chosen), [base], "tessera: the hunks kept\n")
    checkpoint = create_checkpoint(repo, label)
    ours = commit(repo, checkpoint.tree, [base], "tessera: your tree before the apply\n")
    proc = repo.git.run("merge-tree", "--write-tree", "--name-only", ours, result, check=False,
                        config=_MERGE_SETTINGS, env={"GIT_ATTR_NOSYSTEM": "1"})
    if proc.returncode not in (0, 1):
        _drop(repo, checkpoint)
        why = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(["merge-tree"], proc.returncode,
                       f"{why} (the apply needs git 2.38 or newer for `merge-tree --write-tree`;"
                       " nothing was applied)")
    merged, conflicts = _read_merge(proc.stdout)
    if proc.returncode == 1:
        _drop(repo, checkpoint)
        raise ApplyConflict(conflicts)
    try:
        outcome = restore_files(repo, checkpoint.tree, merged, keep=checkpoint.left_out)
    except RestoreConflict as exc:  # found before anything was written
        _drop(repo, checkpoint)
        raise RestoreConflict(f"{exc}; nothing was applied") from exc
    except RestoreFailed as exc:
        raise RestoreFailed(f"the apply stopped part-way: {exc}. `tessera undo --to "
                            f"{checkpoint.id}` brings your tree back as it was") from exc
    if not (outcome.restored or outcome.removed):
        _drop(repo, checkpoint)  # already there: nothing for undo to revert
    return ApplyResult(checkpoint, outcome.restored, outcome.removed)


def _drop(repo: GitRepo, checkpoint: Checkpoint) -> None:
    repo.git.run("update-ref", "-d", checkpoint.ref, checkpoint.commit_sha, check=False)


def _read_merge(out: bytes) -> tuple[str, dict[str, list[str]]]:
    """The merged tree, and per conflicting path the messages that name it."""
    text = out.decode("utf-8", "surrogateescape")
    head, _, messages = text.partition("\n\n")
    lines = head.splitlines()
    conflicts: dict[str, list[str]] = {path: [] for path in dict.fromkeys(lines[1:])}
    for message in messages.splitlines():
        if not message.startswith("CONFLICT"):
            continue
        for path in conflicts:
            if path in message:
                conflicts[path].append(message)
    return lines[0], conflicts


def selected_tree(repo: GitRepo, base_tree: str, result_tree: str, chosen: Chosen) -> str:
    """`base_tree` with only the chosen changes of base→result: a file whose every hunk
    was chosen (or a file without hunks: binary, a rename, a mode change) takes the
    result's version, a file with some hunks chosen gets those applied to its base."""
    by_file: dict[str, list[Hunk | None]] = defaultdict(list)
    files: dict[str, FileDiff] = {}
    for file_diff, hunk in chosen:
        files[file_diff.path] = file_diff
        by_file[file_diff.path].append(hunk)
    entries: list[bytes] = []
    result_entries = _entries(repo, result_tree, list(files))
    base_entries = _entries(repo, base_tree, [f.old_path or f.path for f in files.values()])
    for path, file_diff in files.items():
        hunks = [h for h in by_file[path] if h is not None]
        whole = not file_diff.hunks or len(hunks) == len(file_diff.hunks)
        if file_diff.old_path:  # a rename goes whole: the old name leaves
            entries.append(_removal(file_diff.old_path))
            whole = True
        if whole:
            entries.append(_entry(path, result_entries.get(path)))
            continue
        old = base_entries.get(path)
        content = repo.git.run("cat-file", "blob", old[1]).stdout if old else b""
        new_mode = (result_entries.get(path) or old or ("100644", ""))[0]
        blob = repo.out("hash-object", "-w", "--no-filters", "--stdin",
                        input=_with_hunks(content, hunks))
        entries.append(f"{new_mode} {blob}\t".encode() + encode_path(path) + b"\0")
    with temp_index(repo, seed=False) as env:
        repo.git.run("read-tree", base_tree, env=env)
        repo.git.run("update-index", "-z", "--index-info", env=env, input=b"".join(entries))
        return repo.out("write-tree", env=env)


def _entries(repo: GitRepo, tree: str, paths: list[str]) -> dict[str, tuple[str, str]]:
    if not paths:
        return {}
    out = repo.git.run("ls-tree", "-r", "-z", "--full-tree", tree, "--",
                       *(f":(literal){p}" for p in paths)).stdout
    found = {}
    for record in out.split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            mode, _kind, sha = meta.decode().split()
            found[decode_path(path)] = (mode, sha)
    return found


def _removal(path: str) -> bytes:
    return b"0 " + b"0" * 40 + b"\t" + encode_path(path) + b"\0"


def _entry(path: str, entry: tuple[str, str] | None) -> bytes:
    if entry is None:
        return _removal(path)  # deleted by the run
    return f"{entry[0]} {entry[1]}\t".encode() + encode_path(path) + b"\0"


def _with_hunks(content: bytes, hunks: list[Hunk]) -> bytes:
    """The base content with these hunks' old sides swapped for their new sides."""
    lines = split_lines(content)
    shift = 0
    for hunk in sorted(hunks, key=lambda h: h.old_start):
        old = hunk_side_bytes(hunk.side(new=False), hunk.old_missing_newline)
        new = hunk_side_bytes(hunk.side(new=True), hunk.new_missing_newline)
        at = (hunk.old_start - 1 if hunk.old_lines else hunk.old_start) + shift
        if lines[at:at + len(old)] != old:
            raise ValueError(f"hunk {hunk.header} does not match the start point")
        lines[at:at + len(old)] = new
        shift += len(new) - len(old)
    return b"".join(lines)
