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


def build_system_context(repo: Path, cwd: Path | None = None) -> SystemContext:
    sections = [base_prompt().strip(), "# Environment\n" + environment_facts(repo, cwd)]
    files = instruction_files(repo, cwd)
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) > INSTRUCTION_LIMIT:
            text = text[:INSTRUCTION_LIMIT] + f"\n[... cut at {INSTRUCTION_LIMIT} characters]"
        sections.append(f"# Instructions from {path}\n{text.strip()}")
    return SystemContext("\n\n".join(sections) + "\n", [str(p) for p in files])
