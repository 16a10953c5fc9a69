"""Agent Skills (agentskills.io): folders holding a SKILL.md, found where users and other
agents keep them, listed to the model by name and description (docs/skills.md).

Searched, first found wins for a name: `~/.config/tessera/skills/`, then the
repository's `.tessera/skills/` and `.agents/skills/`. A skill is text, so a repository's
skills load in an untrusted repository too; their `allowed-tools` never widen approvals
(tools/skill.py only shows them). A malformed skill is left out and reported (by
`tessera doctor`), never a reason not to start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.base import Tool
from tools.skill import SkillInfo, SkillTool

SKILL_FILE = "SKILL.md"
NAME_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
NAME_LIMIT, DESCRIPTION_LIMIT = 64, 1024
REPOSITORY_FOLDERS = (".tessera/skills", ".agents/skills")


@dataclass(frozen=True)
class SkillProblem:
    path: Path  # the SKILL.md (or the folder missing one)
    problem: str


def skill_roots(repo: Path) -> list[tuple[Path, str]]:
    """(folder of skill folders, scope) in the order they are searched."""
    from agent import paths

    return [(paths.config_dir() / "skills", "user"),
            *((repo / folder, "repository") for folder in REPOSITORY_FOLDERS)]


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter (between `---` lines at the top) and the body; raises
    ValueError when there is none or it is not a YAML mapping."""
    import yaml

    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValueError("no front matter: the file must start with a --- line")
    for index, line in enumerate(lines[1:], 1):
        if line.strip() == "---":
            head, body = "".join(lines[1:index]), "".join(lines[index + 1:])
            break
    else:
        raise ValueError("the front matter is not closed by a --- line")
    try:
        meta = yaml.safe_load(head) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"the front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError("the front matter must be a mapping of keys to values")
    return meta, body


def read_skill(skill_file: Path, scope: str) -> SkillInfo:
    """One skill; raises ValueError saying what is wrong with it."""
    try:
        text = skill_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read it: {exc}") from exc
    meta, body = split_front_matter(text)
    name, description = meta.get("name"), meta.get("description")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or len(name) > NAME_LIMIT:
        raise ValueError(f"`name` must be lower-case words joined by hyphens, at most "
                         f"{NAME_LIMIT} characters; got {name!r}")
    if name != skill_file.parent.name:
        raise ValueError(f"`name` {name!r} differs from its folder's name "
                         f"{skill_file.parent.name!r}")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("`description` (what the skill does and when to use it) is missing")
    if len(description) > DESCRIPTION_LIMIT:
        raise ValueError(f"`description` is over {DESCRIPTION_LIMIT} characters")
    allowed = meta.get("allowed-tools", ())
    if isinstance(allowed, str):
        allowed = allowed.replace(",", " ").split()
    if not isinstance(allowed, list | tuple) or not all(isinstance(t, str) for t in allowed):
        raise ValueError("`allowed-tools` must be a list of tool names")
    return SkillInfo(name, " ".join(description.split()), skill_file.parent, body,
                     tuple(allowed), scope)


def discover_skills(repo: Path) -> tuple[list[SkillInfo], list[SkillProblem]]:
    """Every usable skill, and what is wrong with the others."""
    skills: dict[str, SkillInfo] = {}
    problems: list[SkillProblem] = []
    for root, scope in skill_roots(repo.resolve()):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            skill_file = folder / SKILL_FILE
            if not skill_file.is_file():
                problems.append(SkillProblem(folder, f"no {SKILL_FILE} in the folder"))
                continue
            try:
                skill = read_skill(skill_file, scope)
            except ValueError as exc:
                problems.append(SkillProblem(skill_file, str(exc)))
                continue
            if skill.name in skills:
                first = skills[skill.name].folder
                problems.append(SkillProblem(skill_file, f"skill {skill.name!r} is already "
                                             f"defined in {first}; this one is ignored"))
                continue
            skills[skill.name] = skill
    return list(skills.values()), problems


def skills_prompt(skills: list[SkillInfo]) -> str:
    """The system prompt's list of skills: names and descriptions only."""
    if not skills:
        return ""
    listed = "\n".join(f"- {skill.name}: {skill.description}" for skill in skills)
    return ("# Skills\nA skill holds instructions for one kind of task. When one applies, call "
            "the `skill` tool with its name first and follow what it says.\n" + listed)


def skill_tools(repo: Path) -> list[Tool]:
    """The `skill` tool over the skills found for `repo` ([] when there are none)."""
    skills, _ = discover_skills(repo)
    return [SkillTool(skills)] if skills else []


def skills_section(tools: list[Tool]) -> str:
    """The system prompt's skills section, when the session's tools include `skill`."""
    tool = next((t for t in tools if isinstance(t, SkillTool)), None)
    return skills_prompt(list(tool.skills.values())) if tool is not None else ""
