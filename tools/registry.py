"""The tools the agent gets by default, and the schemas the model sees for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools.background_tools import BashKill, BashOutput
from tools.base import Tool
from tools.codeintel.tools import code_intel_tools
from tools.files import EditFile, ReadFile, WriteFile
from tools.images import ViewImage
from tools.screenshot import Screenshot
from tools.search import Grep, ListFiles
from tools.shell import Bash
from tools.web_fetch import WebFetch


def default_tools() -> list[Tool]:
    """Fresh instances of every tool, in the order the model sees them."""
    tools: list[Tool] = [
        ReadFile(),
        WriteFile(),
        EditFile(),
        Grep(),
        ListFiles(),
        Bash(),
        BashOutput(),
        BashKill(),
        *code_intel_tools(),
        ViewImage(),
        Screenshot(),
        WebFetch(),
    ]
    names = [tool.name for tool in tools]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise RuntimeError(f"two tools share the name(s) {sorted(duplicates)}")
    return tools


def tool_schemas(tools: Sequence[Tool] | None = None) -> list[dict[str, Any]]:
    """Function descriptions for the request (OpenAI/Mistral tool format)."""
    return [tool.schema() for tool in (default_tools() if tools is None else tools)]
