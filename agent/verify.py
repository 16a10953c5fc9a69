"""The verify loop: the configured checks, run in the sandbox after a step that changed files.

`[verify] commands = ["ruff check {files}", "pytest -q -x"]` in a config file (a
repository's own `.tessera/config.toml` may set it: the commands run inside the
sandbox like the model's). After each step, the files changed since the last look are
found (git's view of the work tree, each file's content hashed, plus the paths the file
tools report), and when there are any the commands run in order, `{files}` replaced by
those paths, shell-quoted; a command with `{files}` is skipped when every changed file
was deleted. Each gives a `verify` event; the first failure stops the rest and becomes
the model's next message, which raises the effort signal (agent/effort.py).

Without configured commands nothing is run: the first step that changes files brings,
once per repository, a `verify_suggestion` event naming the checks the repository
itself declares (pyproject.toml, package.json, Makefile).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent import events as ev
from tools.sandbox.policy import SandboxMode, SandboxPolicy

TAIL_LINES = 40
TAIL_BYTES = 4 * 1024


@dataclass
class Verifier:
    repo: Path
    commands: tuple[str, ...]
    policy: SandboxPolicy
    enabled: bool = True  # `--no-verify`, `/verify off`
    # Commands a repository set without being trusted do not run with the sandbox off.
    from_untrusted_repo: bool = False
    suggestions_seen: Path | None = None  # remembers the repositories already told
    _state: dict[str, str] = field(default_factory=dict)
    _idle: bool = False  # nothing to run and nothing left to suggest: no need to look

    def __post_init__(self) -> None:
        self._idle = not self.commands and self._suggested()
        if not self._idle:
            self._state = worktree_state(self.repo)

    async def after_step(
        self, step: int, results: list[ev.ToolResult], emit: Callable[[ev.Event], None]
    ) -> str | None:
        """Run the checks when the step changed files; the note for the model when one
        failed, else None."""
        if self._idle:
            return None
        now = await asyncio.to_thread(worktree_state, self.repo)
        changed = _checked(changed_paths(self._state, now) | _reported_paths(results))
        self._state = now
        if not changed or not self.enabled:
            return None
        if not self.commands:
            self._suggest_once(emit)
            return None
        if self.from_untrusted_repo and self.policy.mode is SandboxMode.FULL_ACCESS:
            emit(ev.Error("verify: the repository's [verify] commands were not run: the "
                          "sandbox is off (full-access) and the repository is not trusted "
                          "(`tessera trust`)", step=step))
            return None
        files = sorted(p for p in changed if (self.repo / p).is_file())
        note = None
        for template in self.commands:
            if "{files}" in template and not files:
                continue
            command = template.replace("{files}", shlex.join(files))
            check = await asyncio.to_thread(self._run, step, command, files)
            emit(check)
            if not check.ok:
                note = failure_note(check)
                break
        self._state = await asyncio.to_thread(worktree_state, self.repo)  # a fixer's edits
        return note

    def _run(self, step: int, command: str, files: list[str]) -> ev.Verify:
        from tools.sandbox.runner import run_command

        try:
            result = run_command(command, repo=self.repo, policy=self.policy)
        except (OSError, ValueError) as exc:
            return ev.Verify(step, command, False, None, f"could not run it: {exc}", 0.0, files)
        tail = output_tail(result.output)
        if result.timed_out:
            tail += f"\n[timed out after {self.policy.timeout_s:g} s]"
        return ev.Verify(step, command, result.exit_code == 0, result.exit_code, tail,
                         round(result.duration_s, 3), files)

    def _seen(self) -> set[str]:
        if self.suggestions_seen is None:
            return set()
        try:
            return set(json.loads(self.suggestions_seen.read_text()))
        except (OSError, ValueError, TypeError):
            return set()

    def _suggested(self) -> bool:
        """Whether this repository's checks were suggested already (or never will be)."""
        return self.suggestions_seen is None or str(self.repo.resolve()) in self._seen()

    def _suggest_once(self, emit: Callable[[ev.Event], None]) -> None:
        self._idle = True
        if self.suggestions_seen is None or self._suggested():
            return
        found = suggested_commands(self.repo)
        seen = self._seen() | {str(self.repo.resolve())}
        self.suggestions_seen.parent.mkdir(parents=True, exist_ok=True)
        self.suggestions_seen.write_text(json.dumps(sorted(seen)))
        if found:
            emit(ev.VerifySuggestion([c for c, _ in found], sorted({s for _, s in found})))


def failure_note(check: ev.Verify) -> str:
    code = "killed" if check.exit_code is None else f"exit code {check.exit_code}"
    return (f"The check `{check.command}` failed after your last change ({code}). The end of "
            f"its output:\n```\n{check.output_tail}\n```\nFix this before going on; the "
            "checks run again after your next change.")


def output_tail(output: str) -> str:
    lines = output.rstrip("\n").splitlines()[-TAIL_LINES:]
    return "\n".join(lines)[-TAIL_BYTES:]


# -- what changed -------------------------------------------------------------------------


def worktree_state(repo: Path) -> dict[str, str]:
    """Path → content digest of every file git sees as changed or untracked (ignored files
    are not the model's work: caches, build output). {} outside a git work tree."""
    from tools.git.repo import open_repo

    try:
        out = open_repo(repo).out("status", "--porcelain=v1", "-z", "--untracked-files=all")
    except Exception:  # not a git work tree, or no git: the tools' reports alone count
        return {}
    state: dict[str, str] = {}
    entries = iter(out.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            next(entries, None)  # the old name of a rename or copy
        state[path] = _digest(repo / path)
    return state


HASHED_BYTES = 1024 * 1024  # larger files (data, build output) compare by size and mtime


def _digest(path: Path) -> str:
    try:
        stat = path.stat()
        if stat.st_size > HASHED_BYTES:
            return f"{stat.st_size}:{stat.st_mtime_ns}"
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return "absent"


def changed_paths(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Paths whose content differs between two states (a path that is in one state only
    changed too: created, deleted, or back to its committed content)."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


CACHE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache",
                        "node_modules"})


def _checked(paths: set[str]) -> set[str]:
    """Without what tools write as a side effect of running (bytecode, caches) in a
    repository that does not ignore it."""
    return {p for p in paths if not CACHE_DIRS.intersection(Path(p).parts)}


def _reported_paths(results: list[ev.ToolResult]) -> set[str]:
    return {str(r.data["path"]) for r in results
            if r.ok and r.data.get("changed") and isinstance(r.data.get("path"), str)}


# -- suggestions ----------------------------------------------------------------------------


def suggested_commands(repo: Path) -> list[tuple[str, str]]:
    """(command, the file that declares it) for the checks the repository names itself."""
    found: list[tuple[str, str]] = []
    pyproject = repo / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            project = {}
        tool = project.get("tool", {}) if isinstance(project, dict) else {}
        text = pyproject.read_text(encoding="utf-8", errors="replace")
        if "ruff" in tool or re.search(r"[\"']ruff\b", text):
            found.append(("ruff check {files}", "pyproject.toml"))
        if "pytest" in tool or re.search(r"[\"']pytest\b", text):
            found.append(("pytest -q -x", "pyproject.toml"))
    package = repo / "package.json"
    if package.is_file():
        try:
            scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts", {})
        except (OSError, ValueError, AttributeError):
            scripts = {}
        for name in ("lint", "typecheck", "test"):
            if isinstance(scripts, dict) and name in scripts:
                found.append((f"npm run {name}" if name != "test" else "npm test",
                              "package.json"))
    makefile = next((repo / n for n in ("Makefile", "makefile", "GNUmakefile")
                     if (repo / n).is_file()), None)
    if makefile is not None:
        text = makefile.read_text(encoding="utf-8", errors="replace")
        for target in ("lint", "check", "test"):
            if re.search(rf"^{target}\s*:", text, re.MULTILINE):
                found.append((f"make {target}", makefile.name))
    return found
