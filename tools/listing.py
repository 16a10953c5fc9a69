"""The one file lister: which files of a tree are the project's, as git sees them.

In a git work tree git answers (`git ls-files --cached --others --exclude-standard`
through the host git entry): it is the ground truth, reads the user's global excludes
file and its own index rather than every directory. Outside git, or when git refuses
(a repository owned by someone else, a broken `.git`), a walk applies the same rules
(tools/ignore.py: every directory's .gitignore and `.git/info/exclude`, not the global
excludes file); tests hold the two to the same answer on tricky ignore files.

Both list hidden files and skip `.git` and symlinks, as ripgrep does (grep and
list_files use it when it is installed). `ripgrep_view` also leaves out tracked files
that an ignore pattern matches, which ripgrep skips and git lists (the walk cannot tell
them apart: it never lists them). Known difference: ripgrep and the walk descend into
nested repositories, `git ls-files` does not.

Directories that cannot be read are left out; a caller that passes an `unreadable` list
gets their paths in it (git's "could not open directory" warnings, the walk's errors),
so that it can say what it did not look into.

Used by list_files and grep's Python engine (tools/search_engines.py, `ripgrep_view`)
and by the repo map's discovery (tools/codeintel/discover.py)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from tools.ignore import GITIGNORE, IgnoreRules

if TYPE_CHECKING:
    from tools.git.repo import HostGit

# Never listed or searched: the repository database (its objects are not source).
SKIPPED_NAMES = frozenset({".git"})
GIT_TIMEOUT_S = 60.0
_GIT_UNREADABLE = re.compile(r"could not open directory '(.*?)/?': ")
# mtimes this fresh are not trusted to prove a listing (or a file) unchanged.
RACY_WINDOW_NS = 2_000_000_000

# (directory relative to the root, names in it) -> leave the directory out of a walk.
SkipDir = Callable[[str, Collection[str]], bool]


def path_key(rel_path: str) -> list[str]:
    """Sort key giving ripgrep's `--sort path` order ('a/b' before 'a-b' before 'a.py')."""
    return rel_path.split("/")


def list_files(
    root: Path,
    start: str = "",
    *,
    ripgrep_view: bool = False,
    unreadable: list[str] | None = None,
) -> list[str]:
    """Files under `root/start`, relative to `root` with '/', in path order.

    A directory named as `start` is listed even when it is ignored itself (as ripgrep
    searches a directory it is pointed at); the ignore rules still apply inside it.
    """
    seen: list[str] = []
    files = git_files(root, start, ripgrep_view=ripgrep_view, unreadable=seen)
    if not files:
        # Not a work tree, git refused, or nothing git lists here (a directory it ignores).
        seen.clear()
        files = walk_files(root, start, unreadable=seen)
    if unreadable is not None:
        unreadable.extend(seen)
    return sorted(files, key=path_key)


def git_files(
    root: Path,
    start: str = "",
    *,
    ripgrep_view: bool = False,
    unreadable: list[str] | None = None,
) -> list[str] | None:
    """What git lists as not ignored; None outside a work tree or when git refuses."""
    if not in_git_work_tree(root):
        return None
    from tools.git.repo import HostGit  # GitPython's import is only paid inside git

    git = HostGit(root)
    pathspec = ["--", f":(literal){start}"] if start else []
    listing = ("--cached", "--others", "--exclude-standard", *pathspec)
    if ripgrep_view:
        # Both questions at once: each git reads the whole index.
        with ThreadPoolExecutor(1) as pool:
            asked = pool.submit(
                _ls_files, git, "--cached", "--ignored", "--exclude-standard", *pathspec
            )
            listed = _ls_files(git, *listing, unreadable=unreadable)
            tracked_ignored = asked.result()
    else:
        listed, tracked_ignored = _ls_files(git, *listing, unreadable=unreadable), []
    if listed is None or tracked_ignored is None:
        return None
    skipped = set(tracked_ignored)
    base = str(root)
    files = []
    for rel in dict.fromkeys(listed):  # a conflicted file is listed once per stage
        if rel in skipped or not SKIPPED_NAMES.isdisjoint(rel.split("/")):
            continue
        with suppress(OSError):  # deleted from the work tree but still tracked
            if stat.S_ISREG(os.lstat(os.path.join(base, rel)).st_mode):
                files.append(rel)
    return files


def in_git_work_tree(root: Path) -> bool:
    """A `.git` here or above (without asking git, which costs a process) and git installed."""
    where = root.absolute()
    return shutil.which("git") is not None and any(
        (directory / ".git").exists() for directory in (where, *where.parents)
    )


def _ls_files(git: HostGit, *args: str, unreadable: list[str] | None = None) -> list[str] | None:
    proc = git.run("ls-files", "-z", *args, check=False, timeout=GIT_TIMEOUT_S)
    if proc.returncode != 0:
        return None
    if unreadable is not None:
        warnings = proc.stderr.decode("utf-8", "surrogateescape")
        unreadable.extend(_GIT_UNREADABLE.findall(warnings))
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def walk_files(
    root: Path,
    start: str = "",
    skip_dir: SkipDir | None = None,
    stamps: dict[str, int] | None = None,
    unreadable: list[str] | None = None,
) -> list[str]:
    """Regular files under `root/start` not ignored, in path order, without asking git.

    `skip_dir` leaves out directories beyond the ignore rules. `stamps`, when given,
    receives the mtime of every directory and .gitignore read (see `stamp`), so that a
    caller can tell later whether the listing may have changed; `unreadable` receives
    the directories that could not be read.
    """
    parts = [p for p in start.split("/") if p]
    rules = _exclude_file_rules(root)
    for depth in range(len(parts)):  # .gitignore files above `start` apply too
        base = "/".join(parts[:depth])
        rules = rules.with_file(base, root / base / GITIGNORE)
        named = "/".join(parts[: depth + 1])
        if rules.ignored(named, True):
            rules = rules.exempt(named)
    found: list[str] = []
    _walk(str(root), "/".join(parts), rules, skip_dir, stamps, (found, unreadable))
    return found


def _walk(
    root: str,
    rel_dir: str,
    rules: IgnoreRules,
    skip_dir: SkipDir | None,
    stamps: dict[str, int] | None,
    out: tuple[list[str], list[str] | None],  # (files found, directories unreadable)
) -> None:
    directory = os.path.join(root, rel_dir) if rel_dir else root
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        if out[1] is not None:
            out[1].append(rel_dir or ".")
        return
    names = [entry.name for entry in entries]
    if stamps is not None:
        with suppress(OSError):
            stamps[rel_dir] = stamp(directory)
    if skip_dir is not None and rel_dir and skip_dir(rel_dir, names):
        return
    if GITIGNORE in names:
        gitignore = os.path.join(directory, GITIGNORE)
        if stamps is not None:  # an edited .gitignore changes the listing too
            with suppress(OSError):
                stamps[os.path.join(rel_dir, GITIGNORE)] = stamp(gitignore)
        rules = rules.with_file(rel_dir, Path(gitignore))
    prefix = rel_dir + "/" if rel_dir else ""
    for entry in entries:
        if entry.name in SKIPPED_NAMES or entry.is_symlink():
            continue
        rel = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            if not rules.ignored(rel, True):
                _walk(root, rel, rules, skip_dir, stamps, out)
        elif entry.is_file(follow_symlinks=False) and not rules.ignored(rel, False):
            out[0].append(rel)


def _exclude_file_rules(root: Path) -> IgnoreRules:
    """`.git/info/exclude` of the repository at `root` (beneath every .gitignore)."""
    from tools.sandbox.bwrap import git_metadata_paths

    metadata = git_metadata_paths(root)
    if not metadata or not metadata[-1].is_dir():
        return IgnoreRules()
    return IgnoreRules().with_file("", metadata[-1] / "info" / "exclude")


def stamp(path: str) -> int:
    """A path's mtime as `trusted_mtime` records it."""
    return trusted_mtime(os.stat(path).st_mtime_ns)


def trusted_mtime(mtime_ns: int) -> int:
    """The mtime to record, or -1 (never valid) when it is too fresh to prove anything
    later: a change within the same clock tick keeps the mtime as it was."""
    return -1 if time.time_ns() - mtime_ns < RACY_WINDOW_NS else mtime_ns
