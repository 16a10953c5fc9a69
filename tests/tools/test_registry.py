"""The default tool set and the schemas the model sees."""

from __future__ import annotations

import json
from pathlib import Path

from tools.base import SideEffect, Tool, ToolContext
from tools.registry import default_tools, tool_schemas


def test_default_tools_are_the_expected_set_with_side_effects() -> None:
    tools = default_tools()
    assert all(isinstance(tool, Tool) for tool in tools)
    assert {tool.name: tool.side_effect for tool in tools} == {
        "read_file": SideEffect.READ,
        "write_file": SideEffect.WRITE,
        "edit_file": SideEffect.WRITE,
        "grep": SideEffect.READ,
        "list_files": SideEffect.READ,
        "bash": SideEffect.EXECUTE,
        "bash_output": SideEffect.READ,
        "bash_kill": SideEffect.EXECUTE,
        "outline": SideEffect.READ,
        "repo_map": SideEffect.READ,
        "find_symbol": SideEffect.READ,
        "view_image": SideEffect.READ,
        "screenshot": SideEffect.READ,
        "web_fetch": SideEffect.NETWORK,
    }


def test_each_call_gives_fresh_instances() -> None:
    first, second = default_tools(), default_tools()
    assert all(a is not b for a, b in zip(first, second, strict=True))


def test_schemas_are_function_descriptions_with_required_fields() -> None:
    schemas = tool_schemas()
    json.dumps(schemas)  # what goes into the request must serialise
    by_name = {s["function"]["name"]: s["function"] for s in schemas}
    assert by_name["edit_file"]["parameters"]["required"] == ["path", "old_string", "new_string"]
    assert by_name["read_file"]["parameters"]["required"] == ["path"]
    assert by_name["grep"]["parameters"]["required"] == ["pattern"]
    for schema in schemas:
        assert schema["type"] == "function"
        function = schema["function"]
        assert function["description"]
        assert function["parameters"]["additionalProperties"] is False
        for field, spec in function["parameters"]["properties"].items():
            assert spec.get("description"), f"{function['name']}.{field} has no description"


def test_schemas_of_given_tools_follow_their_order() -> None:
    tools = default_tools()[::-1]
    assert [s["function"]["name"] for s in tool_schemas(tools)] == [t.name for t in tools]


def test_registered_tools_work_end_to_end(tmp_path: Path) -> None:
    ctx = ToolContext(repo=tmp_path, syntax_guard="off")
    tools = {tool.name: tool for tool in default_tools()}
    assert tools["write_file"].invoke({"path": "notes.md", "content": "alpha\n"}, ctx).ok
    edit = {"path": "notes.md", "old_string": "alpha", "new_string": "beta"}
    assert tools["edit_file"].invoke(edit, ctx).ok
    assert tools["read_file"].invoke({"path": "notes.md"}, ctx).text == "     1\tbeta\n"
    assert tools["grep"].invoke({"pattern": "beta"}, ctx).text == "notes.md:1: beta\n"
    assert tools["list_files"].invoke({}, ctx).text == "notes.md\n"
