"""A server's tool as the model sees it: `mcp__SERVER__TOOL`, one of our Tools.

The arguments are checked against the server's own (full) JSON schema before the call;
the model sees the cleaned schema (tools/mcp/schema.py). A result's text comes back as
text, its images go into the vision path the way `view_image`'s do (stored, then shown
to the model with the result), embedded resources as their text, and what the model
cannot take (audio, binary blobs) is named in the text rather than left out. A result
with `isError` is a failed tool result.

Side effect: an MCP tool runs on the host, outside the sandbox, so it is EXECUTE and
`sandboxed` is false (approval asks for it even under `auto`); a server's `readOnlyHint`
lets `auto-edit` and `auto` run it without asking, as a read, and nothing more.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import json
import re
from typing import Any, Protocol

from pydantic import ConfigDict

from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.images import describe, image_store_dir, store_image
from tools.mcp.config import ServerConfig
from tools.mcp.connection import McpServerError
from tools.mcp.schema import SchemaError, clean_schema

PREFIX = "mcp__"
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def model_name(server: str, tool: str) -> str:
    return f"{PREFIX}{server}__{tool}"


class ServerCaller(Protocol):
    """What a tool calls its server through (tools.mcp.hub.McpHub)."""

    def call(self, server: str, tool: str,
             arguments: dict[str, Any]) -> concurrent.futures.Future: ...  # fmt: skip


class McpArgs(ToolArgs):
    """Whatever the server's schema allows: checked with jsonschema, not by pydantic."""

    model_config = ConfigDict(extra="allow")


class McpTool(Tool):
    Args = McpArgs
    side_effect = SideEffect.EXECUTE
    sandboxed = False

    def __init__(self, hub: ServerCaller, server: str, listed: Any,
                 parameters: dict[str, Any]) -> None:  # fmt: skip
        self.hub = hub
        self.server = server
        self.tool = listed.name
        self.name = model_name(server, listed.name)  # type: ignore[misc]
        text = listed.description or getattr(listed, "title", None) or listed.name
        self.description = f"{text.strip()} (MCP server {server})"  # type: ignore[misc]
        self.input_schema = listed.input_schema or {"type": "object"}
        self.parameters = parameters
        annotations = getattr(listed, "annotations", None)
        self.read_only_hint = bool(getattr(annotations, "read_only_hint", False))  # type: ignore[misc]
        self._in_flight: set[concurrent.futures.Future] = set()

    def schema(self) -> dict[str, Any]:  # type: ignore[override]
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}

    def parse_args(self, raw: str | dict[str, Any]) -> ToolArgs:
        import jsonschema

        arguments = super().parse_args(raw).model_dump()
        validator_class = jsonschema.validators.validator_for(self.input_schema)
        try:
            validator_class(self.input_schema).validate(arguments)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(arguments)"
            raise ToolError(f"invalid arguments for {self.name}: {where}: {exc.message}") from exc
        except jsonschema.SchemaError:
            pass  # the server's schema is broken; the server itself judges the arguments
        return McpArgs.model_validate(arguments)

    def run(self, args: McpArgs, ctx: ToolContext) -> ToolResult:
        call = self.hub.call(self.server, self.tool, args.model_dump())
        self._in_flight.add(call)
        try:
            result = call.result()
        except McpServerError as exc:
            raise ToolError(str(exc)) from exc
        except concurrent.futures.CancelledError:
            raise ToolError(f"the {self.tool} call to MCP server {self.server!r} was "
                            "cancelled (the turn was stopped)") from None
        finally:
            self._in_flight.discard(call)
        return convert_result(self.name, result, ctx)

    def cancel(self) -> None:
        for call in list(self._in_flight):
            call.cancel()


def convert_result(name: str, result: Any, ctx: ToolContext) -> ToolResult:
    parts: list[str] = []
    images: list[dict[str, Any]] = []
    for index, block in enumerate(result.content or []):
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "image":
            parts.append(_image(block.data, block.mime_type, f"{name} image {index + 1}",
                                ctx, images))
        elif kind == "resource":
            parts.append(_resource(block.resource, name, index, ctx, images))
        elif kind == "resource_link":
            bits = [str(block.uri), block.name, getattr(block, "description", None) or ""]
            parts.append("[resource link: " + " — ".join(b for b in bits if b) + "]")
        elif kind == "audio":
            parts.append(f"[audio ({block.mime_type}) not shown: the model takes no audio]")
        else:
            parts.append(f"[a {kind or type(block).__name__} block the model cannot be shown]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, indent=2, ensure_ascii=False))
    text = "\n".join(parts) if parts else "(the tool returned nothing)"
    data: dict[str, Any] = {"mcp_server": name.split("__")[1]}
    if images:
        data["image"] = images[0]  # the vision path's key, as view_image's
        if len(images) > 1:
            data["images"] = images
    ok = not getattr(result, "is_error", False)
    return ToolResult(ok=ok, text=text, data=data)


def _image(encoded: str, mime: str, shown_as: str, ctx: ToolContext,
           images: list[dict[str, Any]]) -> str:  # fmt: skip
    try:
        raw = base64.b64decode(encoded, validate=True)
        stored = store_image(raw, image_store_dir(ctx.data_dir), shown_as)
    except (binascii.Error, ValueError) as exc:
        return f"[{shown_as} ({mime}) is not valid base64: {exc}]"
    except ToolError as exc:
        return f"[{shown_as} ({mime}) not shown: {exc}]"
    images.append(stored.as_data()["image"])
    return describe(stored, shown_as)


def _resource(resource: Any, name: str, index: int, ctx: ToolContext,
              images: list[dict[str, Any]]) -> str:  # fmt: skip
    uri, mime = str(resource.uri), getattr(resource, "mime_type", None) or "unknown type"
    if getattr(resource, "text", None) is not None:
        return f"[resource {uri}]\n{resource.text}"
    blob = getattr(resource, "blob", None) or ""
    if mime.startswith("image/"):
        return _image(blob, mime, f"{name} resource {uri}", ctx, images)
    size = len(blob) * 3 // 4
    return f"[resource {uri} ({mime}, about {size:,} bytes of binary) not shown]"


def tools_of(hub: ServerCaller, config: ServerConfig,
             listed: list[Any]) -> tuple[list[McpTool], list[str]]:
    """The model's tools from a server's listing, and what could not be offered or was
    loosened (reported by `/mcp`, `tessera mcp test` and `tessera doctor`)."""
    tools: list[McpTool] = []
    problems: list[str] = []
    for item in listed:
        if not config.offers(item.name):
            continue
        name = model_name(config.name, item.name)
        if not FUNCTION_NAME.match(name):
            problems.append(f"{item.name}: left out: {name!r} is not a valid function name "
                            "(letters, digits, '_' and '-', at most 64)")
            continue
        try:
            cleaned = clean_schema(item.input_schema)
        except SchemaError as exc:
            problems.append(f"{item.name}: left out: its input schema cannot be expressed: {exc}")
            continue
        if cleaned.loosened:
            problems.append(f"{item.name}: the model is not shown "
                            f"{', '.join(cleaned.loosened)} (still checked before each call)")
        tools.append(McpTool(hub, config.name, item, cleaned.parameters))
    missing = sorted(set(config.tools or ()) - {item.name for item in listed}) if listed else []
    problems += [f"{tool}: named in `tools` but the server has no such tool" for tool in missing]
    return tools, problems
