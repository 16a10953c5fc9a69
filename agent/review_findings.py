"""Review findings: read them from the model's answer and check them against the diff.

The model is asked to end its review with one fenced ```json block holding
`{"findings": [{"file", "line", "severity", "message", "suggestion"?}, ...]}` (a bare
list is accepted too). Each finding is checked on its own: a bad one is reported with
the reason and its position (`findings[2]: ...`), the good ones are kept. A finding must
name a file of the diff and a line inside one of that file's hunks, or at least inside
the file (new side; the old side for a deleted file).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tools.git.patch import FileDiff

SEVERITIES = ("error", "warning", "info")
_FENCE_RE = re.compile(r"```[ \t]*(json)?[ \t]*\n(.*?)\n?```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    file: str  # repository-relative, as in the diff
    line: int  # new-side line (old side for a deleted file)
    severity: str  # "error", "warning" or "info"
    message: str
    suggestion: str | None = None  # replacement text for the line(s), when the model gave one
    in_hunk: bool = True  # False: inside the file, outside every changed hunk

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NoFindingsBlock(ValueError):
    """The answer has no JSON block we could read as findings."""


def extract_findings_json(answer: str) -> list[Any]:
    """The raw finding objects of the answer's last JSON block.

    Raises NoFindingsBlock saying precisely what is wrong when there is none."""
    blocks = [m.group(2) for m in _FENCE_RE.finditer(answer)]
    candidates = blocks[::-1] if blocks else [answer.strip()]
    errors = []
    for text in candidates:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(f"line {exc.lineno} column {exc.colno}: {exc.msg}")
            continue
        except RecursionError:
            errors.append("nested too deeply to read")
            continue
        if isinstance(value, dict) and isinstance(value.get("findings"), list):
            return value["findings"]
        if isinstance(value, list):
            return value
        errors.append('expected {"findings": [...]} or a list of findings, got '
                      f"{type(value).__name__}")
    if not blocks:
        raise NoFindingsBlock("the answer has no ```json block of findings")
    raise NoFindingsBlock("no ```json block could be read as findings: " + "; ".join(errors))


def _line_count(path: Path) -> int | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


class DiffIndex:
    """Which files and lines a finding may point at."""

    def __init__(self, repo: Path, diffs: list[FileDiff]):
        self.repo = repo
        self.files = {d.path: d for d in diffs}
        self.renamed_from = {d.old_path: d.path for d in diffs if d.old_path}

    def resolve_path(self, name: str) -> str | None:
        candidates = [name, name.removeprefix("./")]
        if name.startswith(("a/", "b/")):
            candidates.append(name[2:])  # the model copied git's prefix
        root = str(self.repo).rstrip("/") + "/"
        if name.startswith(root):
            candidates.append(name[len(root):])
        for candidate in candidates:
            if candidate in self.files:
                return candidate
            if candidate in self.renamed_from:
                return self.renamed_from[candidate]
        return None

    def locate(self, path: str, line: int) -> tuple[bool, str | None]:
        """(inside a hunk, why the line is invalid or None)."""
        diff = self.files[path]
        deleted = diff.status == "deleted"
        for hunk in diff.hunks:
            start, count = (
                (hunk.old_start, hunk.old_lines) if deleted else (hunk.new_start, hunk.new_lines)
            )
            if start <= line < start + max(count, 1):
                return True, None
        if deleted:
            return False, f"line {line} is outside the deleted lines of {path}"
        total = _line_count(self.repo / path)
        if total is None:
            return False, f"{path} cannot be read to check line {line}"
        if line > total:
            return False, f"line {line} is past the end of {path} ({total} lines)"
        return False, None


def validate_findings(
    raw: list[Any], index: DiffIndex
) -> tuple[list[Finding], list[str]]:
    """The valid findings, and one precise problem per rejected one."""
    findings: list[Finding] = []
    problems: list[str] = []
    for position, item in enumerate(raw):
        where = f"findings[{position}]"
        try:
            findings.append(_one(item, index))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return findings, problems


def _one(item: Any, index: DiffIndex) -> Finding:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    missing = [k for k in ("file", "line", "severity", "message") if k not in item]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    name, line, severity, message = item["file"], item["line"], item["severity"], item["message"]
    if not isinstance(name, str) or not name:
        raise ValueError("file must be a non-empty string")
    if isinstance(line, str) and line.strip().isdigit():
        line = int(line)
    if isinstance(line, bool) or not isinstance(line, int) or line < 1:
        raise ValueError(f"line must be a positive integer, got {json.dumps(line)}")
    if not isinstance(severity, str) or severity.lower() not in SEVERITIES:
        raise ValueError(
            f"severity {json.dumps(severity)} is not one of {', '.join(SEVERITIES)}")
    if not isinstance(message, str) or not message.strip():
        raise ValueError("message must be a non-empty string")
    suggestion = item.get("suggestion")
    if suggestion is not None and not isinstance(suggestion, str):
        raise ValueError("suggestion must be a string or null")
    path = index.resolve_path(name)
    if path is None:
        raise ValueError(f"{name} is not a file of the diff")
    in_hunk, problem = index.locate(path, line)
    if problem:
        raise ValueError(problem)
    return Finding(path, line, severity.lower(), message.strip(), suggestion or None, in_hunk)
