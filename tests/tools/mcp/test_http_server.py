"""Streamable HTTP against the SDK's own server: a bearer token from the environment,
images into the vision path, resources as text, and a tool list that changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.mcp.conftest import TOKEN
from tests.tools.mcp.servers import HttpServer, running_hub
from tools.base import ToolContext
from tools.mcp.hub import McpHub


@pytest.fixture()
def hub(http_server: HttpServer, tmp_path: Path, monkeypatch) -> Iterator[McpHub]:
    monkeypatch.setenv("WEB_TOKEN", TOKEN)
    with running_hub({
        "web": {"url": http_server.url, "bearer_token_env_var": "WEB_TOKEN"},
        "intruder": {"url": http_server.url, "headers": {"Authorization": "Bearer wrong-token"}},
    }, tmp_path / "logs") as hub:
        yield hub


def test_the_token_decides(hub: McpHub) -> None:
    web, intruder = hub.status()
    assert web.state == "ready" and "mcp__web__picture" in web.tools
    assert intruder.state == "failed" and "MCP server 'intruder'" in (intruder.error or "")
    assert "HTTP 401 Unauthorized" in (intruder.error or "")
    assert "wrong-token" not in (intruder.error or "")  # a header's value is a secret


def test_images_resources_and_schemas(hub: McpHub, tmp_path: Path) -> None:
    tools = {t.name: t for t in hub.tools()}
    ctx = ToolContext(tmp_path, data_dir=tmp_path / "data")
    picture = tools["mcp__web__picture"].invoke({"width": 30, "height": 20}, ctx)
    assert picture.ok and "PNG 30x20 px" in picture.text
    stored = picture.data["image"]  # what the agent hands to the model with the result
    assert Path(stored["path"]).is_file() and stored["width"] == 30
    document = tools["mcp__web__document"].invoke({}, ctx)
    assert document.ok
    assert document.text.splitlines()[:3] == [
        "the answer", "[resource file:///notes.txt]", "the notes' text"]
    assert "file:///data.bin (application/octet-stream" in document.text  # named, not dropped
    failed = tools["mcp__web__fail"].invoke({"why": "test"}, ctx)
    assert not failed.ok
    distance = tools["mcp__web__distance"]
    properties = distance.schema()["function"]["parameters"]["properties"]
    assert properties["a"]["properties"]["x"] == {"type": "integer"}  # $ref inlined
    assert distance.invoke({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}}, ctx).text == "5.0"
    bad = distance.invoke({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}, "scale": -1}, ctx)
    assert not bad.ok and "scale" in bad.text


def test_tools_list_changed_is_honoured(hub: McpHub, tmp_path: Path) -> None:
    before = hub.tools()
    grow = next(t for t in before if t.name == "mcp__web__grow")
    assert grow.invoke({"name": "sprout"}, ToolContext(tmp_path)).ok
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "mcp__web__sprout" not in {t.name for t in hub.tools()}:
        time.sleep(0.05)
    after = {t.name: t for t in hub.tools()}
    assert "mcp__web__sprout" in after and hub.tools() is not before
    assert after["mcp__web__sprout"].invoke({}, ToolContext(tmp_path)).text == "I am sprout"
