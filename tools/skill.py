"""The `skill` tool: the body of an Agent Skill (SKILL.md), read when the model uses it.

Only each skill's name and description are in the system prompt (progressive
disclosure, agentskills.io); this tool returns a skill's instructions, or one file of
its folder (`scripts/`, `references/`, ...) that the instructions point to. A skill's
`allowed-tools` are shown as the skill's wish and change no approval: a repository's
skill is text anyone could have written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.textio import BinaryFileError, read_text

FOLDER_LISTING_LIMIT = 50


@dataclass(frozen=True)
class SkillInfo:
    name: str
    description: str
    folder: Path  # holds SKILL.md
    body: str  # the instructions after the front matter
    allowed_tools: tuple[str, ...] = ()
    scope: str = "user"  # "user" or "repository"


class SkillArgs(ToolArgs):
    skill: str = Field(description="The skill's name, as listed under Skills in the system prompt.")
    file: str | None = Field(
        default=None,
        description="A file of the skill's folder to read instead (e.g. references/api.md), "
        "when its instructions point to one.",
    )


class SkillTool(Tool):
    name = "skill"
    description = (
        "Use a skill: returns its instructions (the skills and when to use them are listed "
        "in the system prompt). Call it before starting a task a skill applies to, then "
        "follow the instructions; `file` reads a file the instructions point to."
    )
    Args: ClassVar[type[ToolArgs]] = SkillArgs
    side_effect = SideEffect.READ

    def __init__(self, skills: list[SkillInfo]) -> None:
        self.skills = {skill.name: skill for skill in skills}

    def run(self, args: SkillArgs, ctx: ToolContext) -> ToolResult:
        skill = self.skills.get(args.skill)
        if skill is None:
            known = ", ".join(sorted(self.skills)) or "none"
            raise ToolError(f"no skill named {args.skill!r}; the skills are: {known}")
        if args.file is not None:
            return self._file(skill, args.file)
        files = _folder_files(skill.folder)
        lines = [f"Skill {skill.name} ({skill.scope} skill at {skill.folder})"]
        if files:
            lines.append("Files in its folder (read one with file=PATH): " + ", ".join(files))
        if skill.allowed_tools:
            lines.append("It expects the tools: " + ", ".join(skill.allowed_tools)
                         + " (approvals are unchanged by it)")
        text = "\n".join(lines) + "\n\n" + skill.body.strip() + "\n"
        data = {"skill": skill.name, "scope": skill.scope, "file": "SKILL.md",
                "path": str(skill.folder / "SKILL.md")}
        return ToolResult(True, text, data)

    def _file(self, skill: SkillInfo, name: str) -> ToolResult:
        folder = skill.folder.resolve()
        path = (folder / name).resolve()
        if not path.is_relative_to(folder):
            raise ToolError(f"{name} is outside the folder of skill {skill.name}")
        if not path.is_file():
            known = ", ".join(_folder_files(skill.folder)) or "none"
            raise ToolError(f"skill {skill.name} has no file {name}; its files: {known}")
        try:
            text = read_text(path, name).text
        except BinaryFileError as exc:
            raise ToolError(f"{name} is not a text file; run it instead, if the skill says "
                            "so") from exc
        data = {"skill": skill.name, "scope": skill.scope, "file": name, "path": str(path)}
        return ToolResult(True, text, data)


def _folder_files(folder: Path) -> list[str]:
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.name != "SKILL.md")
    if len(found) > FOLDER_LISTING_LIMIT:
        return [*found[:FOLDER_LISTING_LIMIT], f"… {len(found) - FOLDER_LISTING_LIMIT} more"]
    return found
