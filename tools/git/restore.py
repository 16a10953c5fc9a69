"""Putting a snapshot back on disk: files, modes, symlinks, and the index.

The plan comes from `git diff-tree` between a snapshot of the current state and the
target, so an unchanged file is never rewritten. Nothing on disk changes until the
whole plan is checked (no ignored file in the way, no git operation holding the index
lock). Files are written through a temporary name and renamed into place, so a crash
leaves either the old or the new bytes, never half of each.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tools.atomic import current_umask, write_atomically
from tools.git.repo import GitError, GitRepo, HostProcess
from tools.git.snapshot import (
    IndexState,
    decode_path,
    encode_path,
    read_index_entries,
    temp_index,
)

GITLINK = "160000"
SYMLINK = "120000"
EXECUTABLE = "100755"


class RestoreError(Exception):
    pass


class RestoreConflict(RestoreError):
    """Restoring would have to overwrite or delete something it must not touch; raised
    before anything changed."""


class RestoreFailed(RestoreError):
    """Restoring stopped part-way (a permission, the disk, a lock taken meanwhile)."""


@dataclass(frozen=True)
class TreeChange:
    status: str  # A, M, T (write) or D (remove)
    old_mode: str
    new_mode: str
    new_sha: str
    path: str


@dataclass
class RestoreOutcome:
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_ignored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def tree_changes(repo: GitRepo, old_tree: str, new_tree: str) -> list[TreeChange]:
    out = repo.git.run("diff-tree", "-r", "-z", "--no-renames", old_tree, new_tree).stdout
    fields = out.split(b"\0")
    changes = []
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].decode()
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, _old_sha, new_sha, status = meta[1:].split(" ")
        changes.append(
            TreeChange(status[0], old_mode, new_mode, new_sha, decode_path(fields[i + 1]))
        )
    return changes


def _is_ignore_file(path: str) -> bool:
    return path == ".gitignore" or path.endswith("/.gitignore")


class BlobReader:
    """Blob contents one at a time from a single `git cat-file --batch` process."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self.proc: HostProcess | None = None

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait()

    def read(self, sha: str) -> bytes:
        if self.proc is None:
            self.proc = self.repo.git.popen("cat-file", "--batch")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(sha.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3:
            raise RestoreConflict(f"object {sha} is missing from the repository")
        data = self.proc.stdout.read(int(header[2]))
        self.proc.stdout.read(1)  # the newline after the contents
        return data


class _Restorer:
    def __init__(self, repo: GitRepo, changes: list[TreeChange], keep: tuple[str, ...]) -> None:
        self.repo = repo
        self.root = repo.root
        self.outcome = RestoreOutcome()
        self.writes = [c for c in changes if c.status != "D" and c.new_mode != GITLINK]
        removals = [c.path for c in changes if c.status == "D" and c.old_mode != GITLINK]
        kept = {p for p in removals if any(p == k or p.startswith(k + "/") for k in keep)}
        self.removals = [p for p in removals if p not in kept]
        self.outcome.skipped = sorted(
            [c.path for c in changes if GITLINK in (c.old_mode, c.new_mode)] + list(kept)
        )
        self.umask = current_umask()

    # -- checks before anything changes ---------------------------------------------
    def check(self) -> None:
        lock = self.repo.index_path.with_name("index.lock")
        if lock.exists():
            raise RestoreConflict(
                f"{lock} exists: another git command is running (or crashed). "
                "Wait for it, or remove the lock file if no git process is running."
            )
        leaving = set(self.removals)
        problems = []
        for change in self.writes:
            parts = change.path.split("/")
            if ".git" in parts:
                problems.append(f"{change.path}: refusing to write inside .git")
                continue
            for depth in range(1, len(parts)):
                prefix = "/".join(parts[:depth])
                mode = self._lstat_mode(prefix)
                if mode is not None and not stat.S_ISDIR(mode) and prefix not in leaving:
                    problems.append(f"{prefix}: is a file where the checkpoint has a folder")
            mode = self._lstat_mode(change.path)
            if mode is not None and stat.S_ISDIR(mode):
                blocking = [p for p in self._files_under(change.path) if p not in leaving]
                if blocking:
                    problems.append(
                        f"{change.path}: is a folder holding files not in any checkpoint "
                        f"(e.g. ignored {blocking[0]})"
                    )
        self._check_objects()
        if problems:
            raise RestoreConflict(
                "cannot restore without touching ignored files: " + "; ".join(problems)
            )

    def _lstat_mode(self, rel: str) -> int | None:
        try:
            return os.lstat(self.root / rel).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _files_under(self, rel: str) -> list[str]:
        found = []
        for dirpath, dirs, files in os.walk(self.root / rel):
            links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
            for name in files + links:
                found.append(str(Path(dirpath, name).relative_to(self.root)))
        return found

    # -- doing it -------------------------------------------------------------------
    def apply(self, tracked_now: set[str]) -> RestoreOutcome:
        ignore_writes = [c for c in self.writes if _is_ignore_file(c.path)]
        with BlobReader(self.repo) as blobs:
            self._apply(blobs, ignore_writes, tracked_now)
        self.outcome.restored = sorted(c.path for c in self.writes)
        return self.outcome

    def _apply(
        self, blobs: BlobReader, ignore_writes: list[TreeChange], tracked_now: set[str]
    ) -> None:
        rules_change = bool(ignore_writes) or any(_is_ignore_file(p) for p in self.removals)
        for change in ignore_writes:
            self._write(change, blobs.read(change.new_sha))
        removals = self.removals
        if rules_change:
            # A file that the checkpoint's rules ignore may have existed, ignored, when
            # the checkpoint was taken: keep it unless it was added to the index since.
            ignored = self._ignored([p for p in removals if p not in tracked_now])
            self.outcome.kept_ignored = sorted(ignored)
            removals = [p for p in removals if p not in ignored]
        for path in sorted(removals, reverse=True):
            self._remove(path)
        for change in self.writes:
            if not _is_ignore_file(change.path):
                self._write(change, blobs.read(change.new_sha))

    def _ignored(self, paths: list[str]) -> set[str]:
        if not paths:
            return set()
        proc = self.repo.git.run(
            "check-ignore",
            "--no-index",
            "-z",
            "--stdin",
            input=b"".join(encode_path(p) + b"\0" for p in paths),
            check=False,
        )
        return {decode_path(p) for p in proc.stdout.split(b"\0") if p}

    def _check_objects(self) -> None:
        wanted = sorted({c.new_sha for c in self.writes})
        if not wanted:
            return
        out = self.repo.git.run(
            "cat-file", "--batch-check", input="".join(s + "\n" for s in wanted).encode()
        ).stdout.decode()
        missing = [line.split()[0] for line in out.splitlines() if line.endswith(" missing")]
        if missing:
            raise RestoreConflict(f"objects missing from the repository: {', '.join(missing[:5])}")

    def _remove(self, rel: str) -> None:
        target = self.root / rel
        try:
            target.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        self.outcome.removed.append(rel)
        parent = target.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def _make_room(self, rel: str) -> None:
        """Create the parent folders; clear a now-empty folder standing where a file goes."""
        target = self.root / rel
        parent = self.root
        for part in rel.split("/")[:-1]:
            parent = parent / part
            mode = self._lstat_mode(str(parent.relative_to(self.root)))
            if mode is not None and not stat.S_ISDIR(mode):
                raise RestoreConflict(f"{parent} is in the way of {rel}")
            if mode is None:
                parent.mkdir()
        mode = self._lstat_mode(rel)
        if mode is not None and stat.S_ISDIR(mode):
            for dirpath, _dirs, _files in os.walk(target, topdown=False):
                os.rmdir(dirpath)  # raises if something was left in it: we never rmtree

    def _write(self, change: TreeChange, data: bytes) -> None:
        self._make_room(change.path)
        target = self.root / change.path
        if change.new_mode != SYMLINK:
            perms = self._permissions(target, executable=change.new_mode == EXECUTABLE)
            # Not fsynced, as git's own checkout does not: thousands of files at a time.
            write_atomically(target, data, mode=perms, durable=False)
            return
        temp = target.with_name(f".{target.name[:100]}.tessera-{secrets.token_hex(4)}")
        try:
            os.symlink(os.fsdecode(data), temp)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _permissions(self, target: Path, *, executable: bool) -> int:
        """Keep a regular file's own permission bits; git only decides the exec bits."""
        try:
            current = os.lstat(target)
        except (FileNotFoundError, NotADirectoryError):
            current = None
        if current is None or not stat.S_ISREG(current.st_mode):
            return (0o777 if executable else 0o666) & ~self.umask
        perms = stat.S_IMODE(current.st_mode)
        if executable:
            return perms | ((perms & 0o444) >> 2)
        return perms & ~0o111


def restore_files(
    repo: GitRepo, current_tree: str, target_tree: str, keep: tuple[str, ...] = ()
) -> RestoreOutcome:
    """Make the work tree match `target_tree`, given a snapshot of how it is now.

    Paths in `keep` (and under them) are never removed: the target left them out
    deliberately, so their absence from it says nothing."""
    restorer = _Restorer(repo, tree_changes(repo, current_tree, target_tree), keep)
    restorer.check()
    tracked_now = {e.path for e in read_index_entries(repo)}
    try:
        return restorer.apply(tracked_now)
    except (OSError, RestoreConflict, GitError) as exc:
        raise RestoreFailed(str(exc)) from exc


def install_index(repo: GitRepo, state: IndexState) -> None:
    """Replace the real index with `state`, reusing stat data so git stays fast."""
    with temp_index(repo) as env:
        merged = repo.git.run("read-tree", "-m", state.tree, env=env, check=False)
        if merged.returncode != 0:  # e.g. the current index has conflicts
            repo.git.run("read-tree", state.tree, env=env)
        if state.unmerged:
            info = b"".join(
                f"{e.mode} {e.sha} {e.stage}\t".encode() + encode_path(e.path) + b"\0"
                for e in state.unmerged
            )
            repo.git.run("update-index", "-z", "--index-info", env=env, input=info)
        if state.intent_to_add:
            repo.git.run("add", "-N", "-f", "--", *state.intent_to_add, env=env)
        repo.git.run("update-index", "-q", "--refresh", env=env, check=False)
        built = Path(env["GIT_INDEX_FILE"])
        new_index, built_stat = built.read_bytes(), built.stat()
    lock = repo.index_path.with_name("index.lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError as exc:
        raise RestoreConflict(f"{lock} exists: another git command is running") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_index)
            handle.flush()
            os.fsync(handle.fileno())
        # Keep the mtime git wrote it with: racy-clean detection is relative to it.
        os.utime(lock, ns=(built_stat.st_atime_ns, built_stat.st_mtime_ns))
        os.replace(lock, repo.index_path)
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
