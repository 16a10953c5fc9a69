"""A real MCP server built with the SDK's own server (mcp.server.mcpserver), for what the
PyPI servers cannot show: a slow call to kill, images, resources, an error, a tool list
that changes, a schema with `$ref` and `allOf`, and Streamable HTTP with a bearer token.

    python sdk_server.py stdio
    python sdk_server.py http PORT TOKEN    (requests without `Bearer TOKEN` get 401)
"""

from __future__ import annotations

import base64
import io
import os
import sys
import time
from typing import Annotated

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.types import EmbeddedResource, TextResourceContents, ToolAnnotations
from pydantic import BaseModel, Field

server = MCPServer("tessera-test")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def pid() -> str:
    """This server's process id."""
    return str(os.getpid())


@server.tool()
def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def picture(width: int = 8, height: int = 4) -> Image:
    """A small red PNG."""
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), (255, 0, 0)).save(buffer, format="PNG")
    return Image(data=buffer.getvalue(), format="png")


@server.tool()
def document() -> list:
    """Some text, an embedded text resource, and a binary blob."""
    text = TextResourceContents(uri="file:///notes.txt", mime_type="text/plain",
                                text="the notes' text")
    blob = {"uri": "file:///data.bin", "mimeType": "application/octet-stream",
            "blob": base64.b64encode(b"\x00" * 30).decode()}
    return ["the answer", EmbeddedResource(type="resource", resource=text),
            EmbeddedResource.model_validate({"type": "resource", "resource": blob})]


@server.tool()
def fail(why: str) -> str:
    """Always fails."""
    raise ValueError(f"failed on purpose: {why}")


class Point(BaseModel):
    x: int
    y: int


@server.tool()
def distance(a: Point, b: Point,
             scale: Annotated[float, Field(gt=0)] = 1.0) -> float:  # fmt: skip
    """Distance between two points ($ref'd model arguments)."""
    return scale * ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called NAME and announce the new list."""
    server.add_tool(lambda: f"I am {name}", name=name, description=f"the grown tool {name}")
    await ctx.notify_tools_changed()
    return f"added {name}"


def main() -> None:
    if sys.argv[1] == "stdio":
        server.run("stdio")
        return
    import uvicorn
    from starlette.responses import PlainTextResponse

    port, token = int(sys.argv[2]), sys.argv[3]
    app = server.streamable_http_app()

    async def guarded(scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and headers.get(b"authorization") != f"Bearer {token}".encode():
            await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
            return
        await app(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
