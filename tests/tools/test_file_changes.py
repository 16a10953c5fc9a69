"""What write_file and edit_file tell front ends: one data shape for a file change, and a
preview (a dry run through the same code) that equals what the call then does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.base import ToolContext
from tools.files import EditFile, WriteFile

CHANGE_KEYS = {"path", "created", "changed", "diff"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return root


@pytest.fixture
def ctx(repo: Path) -> ToolContext:
    return ToolContext(repo=repo, syntax_guard="off")


def test_write_data_has_the_change_shape_for_created_overwritten_and_unchanged(
    repo: Path, ctx: ToolContext
) -> None:
    created = WriteFile().invoke({"path": "n.txt", "content": "one\n"}, ctx).data
    assert set(created) >= CHANGE_KEYS
    assert created["created"] and created["changed"]
    assert created["diff"] == "--- a/n.txt\n+++ b/n.txt\n@@ -0,0 +1 @@\n+one\n"
    assert (created["lines"], created["bytes"]) == (1, 4)
    overwritten = WriteFile().invoke({"path": "n.txt", "content": "two\n"}, ctx).data
    assert not overwritten["created"] and overwritten["changed"]
    assert "-one\n+two\n" in overwritten["diff"]
    same = WriteFile().invoke({"path": "n.txt", "content": "two\n"}, ctx).data
    assert same == {**same, "created": False, "changed": False, "diff": ""}


def test_edit_data_has_the_change_shape_and_where_it_replaced(
    repo: Path, ctx: ToolContext
) -> None:
    (repo / "f.txt").write_text("x\ny\nx\n")
    args = {"path": "f.txt", "old_string": "x", "new_string": "z", "replace_all": True}
    data = EditFile().invoke(args, ctx).data
    assert set(data) >= CHANGE_KEYS and not data["created"] and data["changed"]
    assert (data["replacements"], data["at_lines"]) == (2, [1, 3])


@pytest.mark.parametrize(
    ("tool", "setup", "args"),
    [
        (EditFile, b"def f():\n    return 1\n", {"old_string": "1", "new_string": "2"}),
        # CRLF on disk, LF in the call: the edit tool matches it with the file's endings.
        (
            EditFile,
            b"first\r\nsecond\r\nthird\r\n",
            {"old_string": "first\nsecond", "new_string": "1st\n2nd"},
        ),
        (WriteFile, b"old\r\ncontent\r\n", {"content": "new\ncontent\n"}),
        (WriteFile, None, {"content": "brand new\n"}),
    ],
)
def test_preview_equals_what_the_call_then_does_and_writes_nothing(
    repo: Path, ctx: ToolContext, tool: type, setup: bytes | None, args: dict[str, str]
) -> None:
    target = repo / "f.txt"
    if setup is not None:
        target.write_bytes(setup)
    call = {"path": "f.txt", **args}
    preview = tool().dry_run(call, ctx)
    assert (target.read_bytes() if setup is not None else None) == setup  # nothing written
    assert target.exists() == (setup is not None)
    result = tool().invoke(call, ctx)
    assert result.ok, result.text
    assert preview == result.data
    assert preview["diff"] and "\r" not in preview["diff"]


def test_preview_of_an_edit_that_cannot_apply_says_why(repo: Path, ctx: ToolContext) -> None:
    (repo / "f.txt").write_text("alpha\n")
    preview = EditFile().dry_run({"path": "f.txt", "old_string": "beta", "new_string": "b"}, ctx)
    result = EditFile().invoke({"path": "f.txt", "old_string": "beta", "new_string": "b"}, ctx)
    assert preview == {"error": result.text} and not result.ok


def test_preview_shows_the_syntax_guard_refusal_with_the_diff(repo: Path) -> None:
    ctx = ToolContext(repo=repo, syntax_guard="refuse")
    (repo / "m.py").write_text("def f():\n    return 1\n")
    call = {"path": "m.py", "old_string": "return 1", "new_string": "return (1"}
    preview = EditFile().dry_run(call, ctx)
    result = EditFile().invoke(call, ctx)
    assert not result.ok and preview["error"] == result.text
    assert preview["syntax_error"] == result.data["syntax_error"]
    assert "+    return (1" in preview["diff"]
