"""Confining a path the model gave to the repository.

Every file tool resolves its path argument here, so there is one place where `../`,
absolute paths, symlinks that point out of the repository, and writes into `.git/` or
`.tessera/` (the project settings) are refused. The returned path is fully resolved: a
symlink inside the repository that points at another file inside it is followed, so
the target is edited and the link survives.
"""

from __future__ import annotations

import os
from pathlib import Path

from tools.base import ToolContext, ToolError
from tools.sandbox.bwrap import masked_paths
from tools.sandbox.policy import DEFAULT_SECRET_PATHS, SandboxMode

# Writing into git metadata (at any depth: submodules have their own) corrupts the
# repository or plants hooks that run outside the sandbox.
GIT_DIR = ".git"
# Tessera's project settings: a change there could loosen the next session's sandbox.
# The command sandbox binds it read-only too (tools/sandbox/bwrap.py).
SETTINGS_DIR = ".tessera"


def confine(ctx: ToolContext, raw: str, *, for_write: bool = False) -> Path:
    """The path every file tool uses: `resolve_in_repo`, plus the sandbox policy's say.

    Secrets the sandbox masks stay hidden from the file tools too when they lie inside
    the repository, and a read-only sandbox refuses writes here as well.
    """
    path = resolve_in_repo(ctx.repo, raw, for_write=for_write)
    for secret in secret_paths_in_repo(ctx):
        if path == secret or path.is_relative_to(secret):
            raise ToolError(f"{raw} is a secret path the sandbox policy masks; it is not available")
    if for_write and ctx.sandbox.mode == SandboxMode.READ_ONLY:
        raise ToolError(f"the sandbox is read-only; writing {raw} is refused")
    return path


def secret_paths_in_repo(ctx: ToolContext) -> list[Path]:
    """Masked secret paths (default and configured) that lie inside the repository."""
    home = Path(os.environ.get("HOME") or Path.home())
    return [
        secret
        for secret in masked_paths(ctx.sandbox, home, DEFAULT_SECRET_PATHS)
        if secret.is_relative_to(ctx.repo)
    ]


def resolve_in_repo(repo: Path, raw: str, *, for_write: bool = False) -> Path:
    """Resolve `raw` (relative to `repo`, or absolute) to a real path inside `repo`.

    Symlinks are resolved for every existing component, so a not-yet-existing target
    is judged by its deepest existing parent. Raises ToolError with a message the model
    can act on when the path leaves the repository, or when a write targets `.git/`.
    """
    if not raw or not raw.strip():
        raise ToolError("path is empty; give a path relative to the repository root")
    if "\x00" in raw:
        raise ToolError("path contains a NUL byte")
    repo = repo.resolve()
    candidate = Path(os.path.expanduser(raw))
    if not candidate.is_absolute():
        candidate = repo / candidate
    # realpath (non-strict) follows every symlink that exists, including dangling ones,
    # and appends the missing tail lexically: exactly "resolve the deepest existing parent".
    resolved = Path(os.path.realpath(candidate))
    if resolved != repo and not resolved.is_relative_to(repo):
        via_link = _first_symlink(repo, candidate)
        why = f" (through the symlink {via_link})" if via_link else ""
        raise ToolError(
            f"{raw} resolves to {resolved}{why}, which is outside the repository {repo}; "
            "only files inside the repository can be used"
        )
    if resolved.is_symlink():  # still a link after realpath: a symlink loop
        raise ToolError(f"{raw} is a symlink loop")
    if for_write:
        rel = resolved.relative_to(repo)
        # casefold: on case-insensitive file systems `.GIT/hooks` is the same directory.
        if any(part.casefold() == GIT_DIR for part in rel.parts):
            raise ToolError(
                f"{raw} is inside {GIT_DIR}/; writing there is refused "
                "(use git commands for repository changes)"
            )
        if rel.parts and rel.parts[0].casefold() == SETTINGS_DIR:
            raise ToolError(
                f"{raw} is inside {SETTINGS_DIR}/, Tessera's project settings; only a person "
                "may change them"
            )
    return resolved


def display_path(repo: Path, path: Path) -> str:
    """How a resolved path is shown to the model: relative to the repository, with '/'."""
    try:
        rel = path.relative_to(repo.resolve())
    except ValueError:
        return str(path)
    return rel.as_posix() if rel.parts else "."


def _first_symlink(repo: Path, candidate: Path) -> str | None:
    """The first component of `candidate` inside the repo that is a symlink, for errors."""
    try:
        rel = candidate.relative_to(repo)
    except ValueError:
        return None
    current = repo
    for part in rel.parts:
        current = current / part
        if current.is_symlink():
            return current.relative_to(repo).as_posix()
    return None
