"""Snapshots of the work tree and the index as git trees, without touching either.

The work tree is snapshotted by `git add -A` into a throwaway index file
(GIT_INDEX_FILE in a temp dir) seeded from the real index, so git's stat cache makes
an unchanged tree cheap and tracked-but-ignored files are kept. In `raw` mode (what
checkpoints use) the blobs are the exact bytes on disk: clean filters, end-of-line
conversion and `ident` are switched off, and files that gitattributes would have
converted are hashed again with `--no-filters`.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tools.git.repo import GitError, GitRepo

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
MAX_UNTRACKED_BYTES = 50 * 1024 * 1024
# Folder names whose untracked contents are dependencies or caches, never user work.
HEAVY_DIRS = frozenset(
    {"node_modules", ".venv", "venv", "__pycache__", ".tox", ".nox", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".gradle"}
)  # fmt: skip
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
_CONVERTING_ATTRS = ("text", "eol", "crlf", "ident", "filter", "working-tree-encoding")
_NO_COMMIT_RE = re.compile(r"error: '(.+)' does not have a commit checked out")


def decode_path(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def encode_path(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class IndexEntry:
    mode: str
    sha: str
    stage: int
    path: str


@dataclass(frozen=True)
class IndexState:
    """The index as a tree of its merged entries plus its conflict stages, if any."""

    tree: str
    unmerged: tuple[IndexEntry, ...] = ()
    intent_to_add: tuple[str, ...] = ()  # `git add -N` entries, which trees cannot hold


@dataclass(frozen=True)
class WorktreeSnapshot:
    tree: str
    warnings: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()  # paths on disk deliberately not in the tree


@contextmanager
def temp_index(repo: GitRepo, *, seed: bool = True) -> Iterator[dict[str, str]]:
    """An env mapping that points git at a private copy of the index (or an empty one)."""
    with tempfile.TemporaryDirectory(prefix="tessera-index-") as tmp:
        path = Path(tmp) / "index"
        if seed and repo.index_path.exists():
            # copy2 keeps the index file's mtime: git's racy-clean check compares file
            # mtimes with it, and a fresh mtime would make it trust stale stat data.
            shutil.copy2(repo.index_path, path)
        yield {"GIT_INDEX_FILE": str(path)}


def read_index_entries(repo: GitRepo, env: dict[str, str] | None = None) -> list[IndexEntry]:
    out = repo.git.run("ls-files", "--stage", "-z", env=env).stdout
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, sha, stage = meta.decode().split(" ")
        entries.append(IndexEntry(mode, sha, int(stage), decode_path(path)))
    return entries


def index_state(repo: GitRepo) -> IndexState:
    """The real index, read from a copy so that nothing ever writes to it."""
    with temp_index(repo) as env:
        entries = read_index_entries(repo, env)
        unmerged = tuple(e for e in entries if e.stage != 0)
        if unmerged:
            paths = sorted({e.path for e in unmerged})
            repo.git.run(
                "update-index",
                "-z",
                "--force-remove",
                "--stdin",
                env=env,
                input=b"".join(encode_path(p) + b"\0" for p in paths),
            )
        tree = repo.out("write-tree", env=env)
    # write-tree leaves out intent-to-add entries; they show as the empty blob.
    maybe_ita = {e.path for e in entries if e.stage == 0 and e.sha == EMPTY_BLOB}
    if maybe_ita:
        listed = repo.git.run("ls-tree", "-r", "-z", "--name-only", tree).stdout.split(b"\0")
        maybe_ita -= {decode_path(p) for p in listed}
    return IndexState(tree=tree, unmerged=unmerged, intent_to_add=tuple(sorted(maybe_ita)))


def raw_settings(repo: GitRepo) -> tuple[list[str], bool]:
    """`-c` settings that make `git add` store bytes as they are on disk.

    Returns the settings and whether the user's core.autocrlf may have normalised
    blobs already in the index (then every file must be hashed again).
    """
    settings = [
        "core.autocrlf=false",
        "core.safecrlf=false",
        "core.attributesFile=/dev/null",
        "core.fileMode=true",
        "core.symlinks=true",
    ]
    settings_regex = r"^(filter\..*|core\.autocrlf)$"
    proc = repo.git.run("config", "-z", "--get-regexp", settings_regex, check=False)
    autocrlf = False
    filters: set[str] = set()
    for record in proc.stdout.split(b"\0"):
        key, _, value = decode_path(record).partition("\n")
        if key == "core.autocrlf":
            autocrlf = value.strip().lower() in ("true", "input", "yes", "on", "1")
        elif key.startswith("filter.") and key.count(".") >= 2:
            filters.add(key[len("filter.") : key.rindex(".")])
    for name in sorted(filters):
        # An empty command disables a driver; required=false lets that pass quietly.
        # (smudge is for checkouts: a task worktree is checked out with these settings.)
        settings += [
            f"filter.{name}.clean=",
            f"filter.{name}.smudge=",
            f"filter.{name}.process=",
            f"filter.{name}.required=false",
        ]
    return settings, autocrlf


def _untracked_to_leave_out(repo: GitRepo, env: dict[str, str], limit: int) -> dict[str, str]:
    """Untracked things not worth saving, path -> reason: files over `limit` bytes, and
    dependency/cache folders (an unignored node_modules or .venv would otherwise be
    hashed on every checkpoint and copied into .git/objects)."""
    out = repo.git.run("ls-files", "-z", "--others", "--exclude-standard", env=env).stdout
    leave_out: dict[str, str] = {}
    heavy: set[str] = set()
    for raw in out.split(b"\0"):
        if not raw or raw.endswith(b"/"):
            continue
        path = decode_path(raw)
        parts = path.split("/")
        hit = next((n for n, part in enumerate(parts[:-1]) if part in HEAVY_DIRS), None)
        if hit is not None:
            heavy.add("/".join(parts[: hit + 1]))
            continue
        try:
            info = os.lstat(repo.root / path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            leave_out[path] = "untracked file over the size limit"
    if heavy:
        tracked_dirs = {
            "/".join(parts[:n])
            for e in read_index_entries(repo, env)
            for parts in [e.path.split("/")]
            for n in range(1, len(parts))
        }
        for folder in sorted(heavy - tracked_dirs):  # a committed vendor folder stays in
            leave_out[folder] = "untracked dependency/cache folder"
    return leave_out


def _add_all(
    repo: GitRepo, env: dict[str, str], settings: list[str], leave_out: list[str]
) -> list[str]:
    """`git add -A` the whole tree but `leave_out`; nested repositories without a commit
    are left out too (git cannot record them). Returns the paths left out."""
    excluded = list(leave_out)
    while True:
        pathspec = [":/"] + [f":(top,exclude,literal){p}" for p in excluded]
        proc = repo.git.run("add", "-A", "--", *pathspec, env=env, config=settings, check=False)
        if proc.returncode == 0:
            return excluded
        stderr = proc.stderr.decode("utf-8", "surrogateescape")
        new = [m.group(1).rstrip("/") for m in _NO_COMMIT_RE.finditer(stderr)]
        new = [p for p in new if p not in excluded]
        if not new:
            raise GitError(["add", "-A"], proc.returncode, stderr)
        excluded += new


def _rehash_converted(repo: GitRepo, env: dict[str, str], every_file: bool) -> None:
    """Store raw bytes for files gitattributes would convert (eol, ident, filters)."""
    entries = [e for e in read_index_entries(repo, env) if e.mode in ("100644", "100755")]
    if every_file:
        candidates = entries
    else:
        has_attributes = (repo.common_dir / "info" / "attributes").exists() or any(
            e.path == ".gitattributes" or e.path.endswith("/.gitattributes") for e in entries
        )
        if not has_attributes:
            return
        proc = repo.git.run(
            "check-attr",
            "-z",
            "--stdin",
            *_CONVERTING_ATTRS,
            env=env,
            input=b"".join(encode_path(e.path) + b"\0" for e in entries),
        )
        fields = proc.stdout.split(b"\0")
        converted = {
            decode_path(fields[i])
            for i in range(0, len(fields) - 2, 3)
            if fields[i + 2] not in (b"unspecified", b"unset")
        }
        candidates = [e for e in entries if e.path in converted]
    # --stdin-paths is line based; a name with a newline keeps git's own blob.
    candidates = [
        e
        for e in candidates
        if "\n" not in e.path and stat.S_ISREG(os.lstat(repo.root / e.path).st_mode)
    ]
    if not candidates:
        return
    proc = repo.git.run(
        "hash-object",
        "-w",
        "--no-filters",
        "--stdin-paths",
        input=b"".join(encode_path(e.path) + b"\n" for e in candidates),
    )
    shas = proc.stdout.decode().split()
    info = b"".join(
        f"{e.mode} {sha}\t".encode() + encode_path(e.path) + b"\0"
        for e, sha in zip(candidates, shas, strict=True)
    )
    repo.git.run("update-index", "-z", "--index-info", env=env, input=info)


def worktree_snapshot(
    repo: GitRepo, *, raw: bool = True, max_untracked_bytes: int | None = MAX_UNTRACKED_BYTES
) -> WorktreeSnapshot:
    """A tree of every tracked and untracked-not-ignored file as it is on disk now.

    With raw=False git's usual filters apply, which is what a diff against a commit
    should compare (it matches `git diff`). Untracked files larger than
    `max_untracked_bytes` (build outputs, downloads) and untracked dependency/cache
    folders are left out with a warning: they would be hashed again on every snapshot
    and stored in .git/objects. `max_untracked_bytes=None` saves everything.
    """
    settings, autocrlf = raw_settings(repo) if raw else ([], False)
    env_extra = {"GIT_ATTR_NOSYSTEM": "1"} if raw else {}
    with temp_index(repo) as env:
        env.update(env_extra)
        reasons = {}
        if max_untracked_bytes is not None:
            reasons = _untracked_to_leave_out(repo, env, max_untracked_bytes)
        left_out = _add_all(repo, env, settings, list(reasons))
        if raw:
            _rehash_converted(repo, env, every_file=autocrlf)
        tree = repo.out("write-tree", env=env)
    warnings = tuple(
        f"left out {reasons.get(p, 'nested repository without a commit')}: {p}" for p in left_out
    )
    return WorktreeSnapshot(tree=tree, warnings=warnings, left_out=tuple(left_out))
