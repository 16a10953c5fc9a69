"""`write_agents_md`: the one write `/init` allows, the repository's AGENTS.md.

It is write_file with the path fixed, so an `/init` session can study the repository
with read-only tools and change nothing but that file; the approval shows its diff
(write_file's own preview) before anything is written.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolResult
from tools.files import WriteFile, WriteFileArgs

AGENTS_FILE = "AGENTS.md"


class AgentsFileArgs(ToolArgs):
    content: str = Field(description="The complete new content of AGENTS.md (Markdown).")


class WriteAgentsFile(Tool):
    name = "write_agents_md"
    description = (
        "Write the repository's AGENTS.md (its whole content). The user sees the diff and "
        "approves it before it is written."
    )
    Args: ClassVar[type[ToolArgs]] = AgentsFileArgs
    side_effect = SideEffect.WRITE

    def _as_write(self, args: AgentsFileArgs) -> WriteFileArgs:
        return WriteFileArgs(path=AGENTS_FILE, content=args.content)

    def preview(self, args: AgentsFileArgs, ctx: ToolContext) -> dict[str, Any]:
        return WriteFile().preview(self._as_write(args), ctx)

    def run(self, args: AgentsFileArgs, ctx: ToolContext) -> ToolResult:
        return WriteFile().run(self._as_write(args), ctx)
