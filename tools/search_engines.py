"""Two engines behind grep and list_files: ripgrep, and pure Python when rg is missing.

Both see the same files (not ignored by .gitignore, hidden files included, `.git` and
symlinks skipped, files over MAX_FILE_BYTES not searched) in the same order (ripgrep's
`--sort path`: directory by directory, names sorted), so the tools give the same
answers whichever engine runs; the Python engine gets them from the one file lister
(tools/listing.py). Both say what they left out (tools/skipped.py): every file over
MAX_FILE_BYTES in the selection, binary files (a NUL byte anywhere) that match, whose
matches are not shown, and files and directories they could not read. Known
difference: ripgrep descends into submodules and nested repositories while
`git ls-files` does not.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tools.base import ToolError
from tools.ignore import glob_matches
from tools.listing import list_files, path_key
from tools.skipped import BINARY, TOO_LARGE, UNREADABLE, Skipped

MAX_FILE_BYTES = 10 * 1024 * 1024
RG_TIMEOUT_S = 60.0
_SIMPLE_NAME_GLOB = re.compile(r"^[\w.*?\[\]-]+$")


@dataclass(frozen=True)
class Selection:
    """Which files a search wants, beyond the ignore rules both engines share."""

    glob: str | None = None
    hidden: tuple[str, ...] = ()  # repository-relative paths masked as secrets

    def accepts(self, rel_path: str) -> bool:
        return not self.hides(rel_path) and (not self.glob or glob_matches(rel_path, self.glob))

    def hides(self, rel_path: str) -> bool:
        """Masked as a secret: never searched, listed, or named as skipped."""
        return any(h in (".", rel_path) or rel_path.startswith(h + "/") for h in self.hidden)


@dataclass(frozen=True)
class Match:
    path: str  # relative to the repository, with '/'
    line: int
    text: str  # the line without its line ending


@dataclass
class Found:
    """A search's answer: up to `cap` matches in path order, whether it stopped at the
    cap, and what it did not search or show."""

    matches: list[Match]
    capped: bool
    skipped: Skipped


def too_large(repo: Path, paths: Iterable[str]) -> Skipped:
    """The files over MAX_FILE_BYTES, which neither engine searches."""
    skipped, base = Skipped(), str(repo)
    for rel in paths:
        try:
            if os.stat(os.path.join(base, rel)).st_size > MAX_FILE_BYTES:
                skipped.add(TOO_LARGE, rel)
        except OSError:
            skipped.add(UNREADABLE, rel)
    return skipped


def ripgrep() -> str | None:
    return shutil.which("rg")


def is_git_repo(repo: Path) -> bool:
    return (repo / ".git").exists() and shutil.which("git") is not None


# --- ripgrep ---------------------------------------------------------------------------


def _rg_common(repo: Path, glob: str | None) -> list[str]:
    args = ["--hidden", "--no-ignore-parent", "--no-ignore-dot", "--glob", "!.git"]
    if not is_git_repo(repo):
        # Honour .gitignore outside git too, and only the tree's own ignore files.
        args += ["--no-require-git", "--no-ignore-global"]
    if glob and "/" not in glob and _SIMPLE_NAME_GLOB.match(glob):
        # A file type narrows the walk but, unlike --glob, still respects .gitignore.
        args += ["--type-add", f"tesseraglob:{glob}", "--type", "tesseraglob"]
    return args


def _rg_target(rel_start: str) -> list[str]:
    return ["--", rel_start] if rel_start else []


def rg_list(
    rg: str, repo: Path, rel_start: str, selection: Selection, skipped: Skipped | None = None
) -> list[str]:
    """The files rg would search; the directories it could not read go to `skipped`."""
    cmd = [rg, "--files", *_rg_common(repo, selection.glob), *_rg_target(rel_start)]
    try:
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, timeout=RG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"listing files took longer than {RG_TIMEOUT_S:.0f} s") from exc
    if proc.returncode not in (0, 1) and not proc.stdout:
        raise ToolError(f"rg failed: {proc.stderr.decode(errors='replace').strip()}")
    if skipped is not None:
        for path in _rg_unreadable(repo, proc.stderr.decode(errors="replace")):
            if not selection.hides(path):
                skipped.add(UNREADABLE, path)
    paths = [p.removeprefix("./") for p in proc.stdout.decode(errors="replace").splitlines()]
    return sorted(filter(selection.accepts, paths), key=path_key)


def rg_grep(
    rg: str,
    repo: Path,
    rel_start: str,
    regex: str,
    ignore_case: bool,
    selection: Selection,
    cap: int,
) -> Found:
    """Up to `cap` matches in path order, and what was skipped.

    `--binary` searches binary files whole and flags them in each file's `end` message
    (a NUL byte anywhere), so their matches are held back until then and dropped; the
    files over --max-filesize come from rg's own listing, run meanwhile.
    Raises ValueError with rg's message when it rejects the pattern.
    """
    cmd = [rg, "--json", "--sort", "path", "--crlf", "--binary"]
    cmd += ["--max-filesize", str(MAX_FILE_BYTES), *_rg_common(repo, selection.glob)]
    cmd += [*(["--ignore-case"] if ignore_case else []), "--regexp", regex]
    cmd += _rg_target(rel_start)
    found = Found([], False, Skipped())
    target = repo / rel_start
    if rel_start and target.is_file() and target.stat().st_size > MAX_FILE_BYTES:
        found.skipped.add(TOO_LARGE, rel_start)  # rg searches a named file whatever its size
        return found
    with ThreadPoolExecutor(1) as pool:
        listed = pool.submit(_rg_too_large, rg, repo, rel_start, selection)
        stderr, timed_out, returncode = _rg_search(cmd, repo, selection, cap, found)
        found.skipped = listed.result().merged(found.skipped)
    if timed_out and returncode == -signal.SIGKILL:
        raise ToolError(f"the search took longer than {RG_TIMEOUT_S:.0f} s; narrow path or glob")
    if returncode == 2 and not found.matches and "regex" in stderr:
        raise ValueError(stderr.strip().removeprefix("rg: "))
    for path in _rg_unreadable(repo, stderr):
        if not selection.hides(path):
            found.skipped.add(UNREADABLE, path)
    return found


def _rg_too_large(rg: str, repo: Path, rel_start: str, selection: Selection) -> Skipped:
    unreadable = Skipped()
    return unreadable.merged(too_large(repo, rg_list(rg, repo, rel_start, selection, unreadable)))


def _rg_search(
    cmd: list[str], repo: Path, selection: Selection, cap: int, found: Found
) -> tuple[str, bool, int]:
    """Run the search into `found`; rg's stderr, whether it timed out, its exit status."""
    held: list[Match] = []  # the current file's matches, until its `end` says binary or not
    # stderr to a file: a pipe nobody reads while stdout streams could fill and stall rg.
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            cmd, cwd=repo, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL
        ) as proc,
    ):
        assert proc.stdout is not None
        watchdog = threading.Timer(RG_TIMEOUT_S, proc.kill)
        watchdog.start()
        try:
            for raw in proc.stdout:
                message = json.loads(raw)
                kind = message.get("type")
                if kind not in ("match", "end"):
                    continue
                data = message["data"]
                path = _rg_text(data["path"]).removeprefix("./")
                if not selection.accepts(path):
                    continue
                if kind == "match":
                    if len(held) <= cap:  # one more than fits tells the cap was passed
                        line = _rg_text(data["lines"]).removesuffix("\n").removesuffix("\r")
                        held.append(Match(path, data["line_number"], line))
                    continue
                if data.get("binary_offset") is not None:
                    found.skipped.add(BINARY, path)
                else:
                    _keep(found, held, cap)
                held = []
                if found.capped:
                    proc.kill()
                    break
            proc.wait()
        finally:
            timed_out = not watchdog.is_alive() and not found.capped
            watchdog.cancel()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    return stderr, timed_out, proc.returncode


def _keep(found: Found, matches: list[Match], cap: int) -> None:
    room = cap - len(found.matches)
    found.matches.extend(matches[:room])
    found.capped = found.capped or len(matches) > room


def _rg_unreadable(repo: Path, stderr: str) -> list[str]:
    """The paths of rg's `PATH: error` lines (unreadable files and directories)."""
    paths = []
    for line in stderr.splitlines():
        path, _, _error = line.removeprefix("rg: ").rpartition(": ")
        path = path.removeprefix("./")
        if path and os.path.lexists(repo / path):
            paths.append(path)
    return paths


def _rg_text(field: dict[str, str]) -> str:
    if "text" in field:
        return field["text"]
    return base64.b64decode(field["bytes"]).decode("utf-8", "replace")


# --- pure Python -----------------------------------------------------------------------


def python_list(
    repo: Path, rel_start: str, selection: Selection, skipped: Skipped | None = None
) -> list[str]:
    """The files the Python engine searches; unreadable directories go to `skipped`."""
    start = repo / rel_start if rel_start else repo
    if start.is_file():
        return list(filter(selection.accepts, [rel_start]))
    unreadable: list[str] = []
    paths = list_files(repo, rel_start, ripgrep_view=True, unreadable=unreadable)
    if skipped is not None:
        for path in unreadable:
            if not selection.hides(path):
                skipped.add(UNREADABLE, path)
    return list(filter(selection.accepts, paths))


def is_binary_file(path: Path) -> bool:
    """Binary as both engines judge it when searching (what ripgrep skips in a walk)."""
    try:
        with path.open("rb") as handle:
            return _decode_like_rg(handle.read(MAX_FILE_BYTES)) is None
    except OSError:
        return False


def python_grep(
    repo: Path, rel_start: str, pattern: re.Pattern[str], selection: Selection, cap: int
) -> Found:
    unreadable = Skipped()
    paths = python_list(repo, rel_start, selection, unreadable)
    found = Found([], False, unreadable.merged(too_large(repo, paths)))
    for rel in paths:
        if rel in found.skipped.paths.get(TOO_LARGE, ()):
            continue
        matches, binary = _search_file(repo / rel, rel, pattern, cap + 1)
        if binary:
            found.skipped.add(BINARY, rel)
        elif matches is None:
            found.skipped.add(UNREADABLE, rel)
        else:
            _keep(found, matches, cap)
            if found.capped:
                break
    return found


def _search_file(
    path: Path, rel: str, pattern: re.Pattern[str], most: int
) -> tuple[list[Match] | None, bool]:
    """Up to `most` matches (None if unreadable), and whether the file is binary and
    matches (its matches are then not returned)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, False
    text = _decode_like_rg(data)
    if text is None:  # binary: searched whole (as rg --binary does), matches not shown
        lines = data.replace(b"\x00", b"\n").decode("utf-8", "replace").split("\n")
        return [], any(pattern.search(line.removesuffix("\r")) for line in lines)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    matches: list[Match] = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if pattern.search(line):
            matches.append(Match(rel, number, line))
            if len(matches) == most:
                break
    return matches, False


def _decode_like_rg(data: bytes) -> str | None:
    """Text as ripgrep searches it; None for binary files (ripgrep skips them)."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace")
    if b"\x00" in data:
        return None
    return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
