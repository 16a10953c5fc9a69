"""What a session tells the model before the task: the system prompt, the user's and the
repository's AGENTS.md files, and facts about the environment.

Built once per session and stored in `session_start`, so every request of a session, and
of its resumption, starts with the same bytes and the engine's prefix cache keeps hitting.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agent import paths

INSTRUCTION_FILE = "AGENTS.md"
# An AGENTS.md is instructions, not a novel: more than this is cut, and the cut is said.
INSTRUCTION_LIMIT = 32 * 1024


@dataclass(frozen=True)
class SystemContext:
    prompt: str
    instruction_files: list[str]


def base_prompt() -> str:
    return resources.files("agent.prompts").joinpath("system.md").read_text(encoding="utf-8")


def instruction_files(repo: Path, cwd: Path | None = None) -> list[Path]:
    """User-level AGENTS.md, then the repository root's, then each folder down to `cwd`."""
    found: list[Path] = []
    user = paths.config_dir() / INSTRUCTION_FILE
    if user.is_file():
        found.append(user)
    repo = repo.resolve()
    cwd = (cwd or repo).resolve()
    chain = [repo]
    if cwd != repo and cwd.is_relative_to(repo):
        for part in cwd.relative_to(repo).parts:
            chain.append(chain[-1] / part)
    found.extend(d / INSTRUCTION_FILE for d in chain if (d / INSTRUCTION_FILE).is_file())
    return found


def environment_facts(repo: Path, cwd: Path | None = None) -> str:
    lines = [
        f"- Repository root: {repo.resolve()}",
        f"- Working directory: {(cwd or repo).resolve()}",
        f"- Operating system: {platform.system()} {platform.release()}",
        f"- Python: {platform.python_version()}",
        f"- Git repository: {'yes' if (repo / '.git').exists() else 'no'}",
    ]
    return "\n".join(lines)


def repo_map_section(repo: Path, max_tokens: int, cache_dir: Path | None) -> str:
    """The ranked map of the repository's definitions, or a line saying why there is none."""
    from tools.codeintel.repo_map import repo_map

    try:
        text = repo_map(repo, max_tokens=max_tokens, cache_dir=cache_dir).text.strip()
    except Exception as exc:  # the map is a help, never a reason not to start
        return f"(no repository map: {type(exc).__name__}: {exc})"
    return text or "(the repository has no files yet)"


def build_system_context(
    repo: Path,
    cwd: Path | None = None,
    *,
    repo_map_tokens: int = 0,
    cache_dir: Path | None = None,
) -> SystemContext:
    sections = [base_prompt().strip(), "# Environment\n" + environment_facts(repo, cwd)]
    if repo_map_tokens > 0:
        sections.append(
            "# Repository map (the most referenced definitions, with line numbers)\n"
            + repo_map_section(repo, repo_map_tokens, cache_dir)
        )
    files = instruction_files(repo, cwd)
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) > INSTRUCTION_LIMIT:
            text = text[:INSTRUCTION_LIMIT] + f"\n[... cut at {INSTRUCTION_LIMIT} characters]"
        sections.append(f"# Instructions from {path}\n{text.strip()}")
    return SystemContext("\n\n".join(sections) + "\n", [str(p) for p in files])
