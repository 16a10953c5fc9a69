"""Two engines behind grep and list_files: ripgrep, and pure Python when rg is missing.

Both see the same files (not ignored by .gitignore, hidden files included, `.git` and
symlinks skipped, files over MAX_FILE_BYTES not searched) in the same order (ripgrep's
`--sort path`: directory by directory, names sorted), so the tools give the same
answers whichever engine runs; the Python engine gets them from the one file lister
(tools/listing.py). Known differences: a file whose first NUL byte lies beyond
ripgrep's first read buffer may have early matches reported by rg only, and ripgrep
descends into submodules and nested repositories while `git ls-files` does not.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.base import ToolError
from tools.ignore import glob_matches
from tools.listing import list_files, path_key

MAX_FILE_BYTES = 10 * 1024 * 1024
RG_TIMEOUT_S = 60.0
_SIMPLE_NAME_GLOB = re.compile(r"^[\w.*?\[\]-]+$")


@dataclass(frozen=True)
class Selection:
    """Which files a search wants, beyond the ignore rules both engines share."""

    glob: str | None = None
    hidden: tuple[str, ...] = ()  # repository-relative paths masked as secrets

    def accepts(self, rel_path: str) -> bool:
        if any(h in (".", rel_path) or rel_path.startswith(h + "/") for h in self.hidden):
            return False
        return not self.glob or glob_matches(rel_path, self.glob)


@dataclass(frozen=True)
class Match:
    path: str  # relative to the repository, with '/'
    line: int
    text: str  # the line without its line ending


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


def rg_list(rg: str, repo: Path, rel_start: str, selection: Selection) -> list[str]:
    cmd = [rg, "--files", *_rg_common(repo, selection.glob), *_rg_target(rel_start)]
    try:
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, timeout=RG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"listing files took longer than {RG_TIMEOUT_S:.0f} s") from exc
    if proc.returncode not in (0, 1) and not proc.stdout:
        raise ToolError(f"rg failed: {proc.stderr.decode(errors='replace').strip()}")
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
) -> tuple[list[Match], bool]:
    """Up to `cap` matches in path order, and whether the search stopped at the cap.

    Raises ValueError with rg's message when it rejects the pattern.
    """
    cmd = [rg, "--json", "--sort", "path", "--crlf", "--max-filesize", str(MAX_FILE_BYTES)]
    cmd += [*_rg_common(repo, selection.glob), *(["--ignore-case"] if ignore_case else [])]
    cmd += ["--regexp", regex, *_rg_target(rel_start)]
    matches: list[Match] = []
    capped = False
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
                if message.get("type") != "match":
                    continue
                data = message["data"]
                path = _rg_text(data["path"]).removeprefix("./")
                if not selection.accepts(path):
                    continue
                if len(matches) == cap:
                    capped = True
                    proc.kill()
                    break
                line = _rg_text(data["lines"]).removesuffix("\n").removesuffix("\r")
                matches.append(Match(path, data["line_number"], line))
            proc.wait()
        finally:
            timed_out = not watchdog.is_alive() and not capped
            watchdog.cancel()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if timed_out and proc.returncode == -signal.SIGKILL:
        raise ToolError(f"the search took longer than {RG_TIMEOUT_S:.0f} s; narrow path or glob")
    if proc.returncode == 2 and not matches and "regex" in stderr:
        raise ValueError(stderr.strip().removeprefix("rg: "))
    return matches, capped


def _rg_text(field: dict[str, str]) -> str:
    if "text" in field:
        return field["text"]
    return base64.b64decode(field["bytes"]).decode("utf-8", "replace")


# --- pure Python -----------------------------------------------------------------------


def python_list(repo: Path, rel_start: str, selection: Selection) -> list[str]:
    start = repo / rel_start if rel_start else repo
    paths = [rel_start] if start.is_file() else list_files(repo, rel_start, ripgrep_view=True)
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
) -> tuple[list[Match], bool]:
    matches: list[Match] = []
    for rel in python_list(repo, rel_start, selection):
        for match in _search_file(repo / rel, rel, pattern):
            if len(matches) == cap:
                return matches, True
            matches.append(match)
    return matches, False


def _search_file(path: Path, rel: str, pattern: re.Pattern[str]) -> Iterator[Match]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return
        data = path.read_bytes()
    except OSError:
        return
    text = _decode_like_rg(data)
    if text is None:
        return
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if pattern.search(line):
            yield Match(rel, number, line)


def _decode_like_rg(data: bytes) -> str | None:
    """Text as ripgrep searches it; None for binary files (ripgrep skips them)."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace")
    if b"\x00" in data:
        return None
    return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
