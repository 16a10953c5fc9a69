"""The one tool protocol: every tool the agent can call has this shape.

A tool has a name, a description, an argument model (pydantic, whose JSON schema is
what the model sees), a side-effect class (so approvals and checkpoints are decided in
one place, by the agent), and `run(args, ctx) -> ToolResult`. A tool that changes files
may also `preview(args, ctx)`: the same change worked out by the same code, not written,
which is what an approval shows.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tools.editor_files import EditorFiles
from tools.net_policy import NetworkPolicy
from tools.output import bound_text
from tools.sandbox.policy import SandboxPolicy

if TYPE_CHECKING:
    from tools.sandbox.session import SessionSandbox

DEFAULT_RESULT_LIMIT = 16 * 1024


class SideEffect(StrEnum):
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    # Reaches outside the machine (web_fetch): changes no file, but what it sends (a URL
    # can carry the repository's secrets) leaves for good, so it is approved like a command.
    NETWORK = "network"


class ToolArgs(BaseModel):
    """Base for argument models: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ToolResult:
    ok: bool
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def error(cls, text: str, **data: Any) -> ToolResult:
        return cls(ok=False, text=text, data=data)


@dataclass
class ToolContext:
    """What a tool may know about where it runs. Built by the agent for each call."""

    repo: Path
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)
    result_limit: int = DEFAULT_RESULT_LIMIT
    data_dir: Path | None = None
    # "refuse" or "warn": what edit tools do when a change breaks a file's syntax.
    syntax_guard: str = "refuse"
    # Where tools that run on the host (web_fetch) may connect; default: nowhere.
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    # The session's shared sandbox state (network namespace, proxy, background processes);
    # None outside a session: each command then gets a network of its own.
    session: SessionSandbox | None = None
    # An editor's buffers (tools/editor_files.py): file tools read and write through it.
    editor: EditorFiles | None = None
    # The id of the call being run (the agent sets it per call): a subagent's events are
    # stored under it.
    call_id: str = ""

    def __post_init__(self) -> None:
        self.repo = Path(self.repo).resolve()


def bounded(result: ToolResult, ctx: ToolContext) -> ToolResult:
    """The result with its text cut to the context's limit (flagged `truncated`)."""
    text, truncated = bound_text(result.text, ctx.result_limit)
    if truncated:
        result.data.setdefault("truncated", True)
    result.text = text
    return result


class ToolError(Exception):
    """A failure a tool reports to the model as a result with ok=False."""


class Tool(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[ToolArgs]]
    side_effect: ClassVar[SideEffect]
    # False for a tool that runs on the host, outside the sandbox (an MCP server's): the
    # `auto` policy, which runs commands because the sandbox confines them, asks for it.
    sandboxed: ClassVar[bool] = True
    # The tool's own claim that it only reads (MCP's readOnlyHint): `auto-edit` and `auto`
    # run it as a read; nothing more (it never counts as a read under `ask`).
    read_only_hint: ClassVar[bool] = False

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The function description the model sees (OpenAI/Mistral tool format)."""
        params = cls.Args.model_json_schema()
        params.pop("title", None)
        return {
            "type": "function",
            "function": {"name": cls.name, "description": cls.description, "parameters": params},
        }

    def parse_args(self, raw: str | dict[str, Any]) -> ToolArgs:
        """Validate raw arguments; raises ToolError naming each bad field."""
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                raise ToolError(
                    f"arguments are not valid JSON: {exc.msg} at column {exc.colno}"
                ) from exc
        if not isinstance(raw, dict):
            raise ToolError(f"arguments must be a JSON object, got {type(raw).__name__}")
        try:
            return self.Args.model_validate(raw)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
                problems.append(f"{where}: {err['msg']}")
            raise ToolError(f"invalid arguments for {self.name}: " + "; ".join(problems)) from exc

    def invoke(self, raw: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Parse, run and bound: the entry point the agent uses."""
        try:
            args = self.parse_args(raw)
            result = self.run(args, ctx)
        except ToolError as exc:
            result = ToolResult.error(str(exc))
        return bounded(result, ctx)

    async def ainvoke(self, raw: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        """`invoke` off the event loop: what the agent awaits. A tool whose work is itself
        asynchronous (the `task` tool runs a subagent's loop) overrides this."""
        return await asyncio.to_thread(self.invoke, raw, ctx)

    def side_effect_of(self, args: dict[str, Any]) -> SideEffect:
        """The side effect of one call (approval and ordering go by it): the class's,
        unless the arguments decide it (a subagent given write tools writes)."""
        return self.side_effect

    def dry_run(self, raw: str | dict[str, Any], ctx: ToolContext) -> dict[str, Any] | None:
        """Parse and preview, changing nothing: the preview's data, `{"error": why}` when
        the call would fail, None when the tool has nothing to preview."""
        try:
            return self.preview(self.parse_args(raw), ctx)
        except ToolError as exc:
            return {"error": str(exc)}

    def preview(self, args: Any, ctx: ToolContext) -> dict[str, Any] | None:
        """What `run` would change, in the shape of its result's data, without changing
        anything. Raise ToolError where `run` would. None: nothing to preview."""
        return None

    def cancel(self) -> None:
        """The turn running this tool was stopped (called from the event loop's thread
        while `run` goes on in its worker): a tool that waits on something outside (an
        MCP server) stops waiting. Most tools cannot be interrupted and do nothing."""
        return None

    @abstractmethod
    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        """Do the work. Raise ToolError for failures the model should see."""
