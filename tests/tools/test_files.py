"""read_file, write_file and edit_file through their public interface (Tool.invoke)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tools import files, syntax_guard
from tools.base import ToolContext, ToolResult
from tools.files import EditFile, ReadFile, WriteFile
from tools.sandbox.policy import SandboxMode, SandboxPolicy


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return root


@pytest.fixture
def ctx(repo: Path) -> ToolContext:
    # The syntax guard has its own tests below; here plain-text files keep it out of the way.
    return ToolContext(repo=repo, syntax_guard="off")


def read(ctx: ToolContext, **args: object) -> ToolResult:
    return ReadFile().invoke(args, ctx)


def write(ctx: ToolContext, **args: object) -> ToolResult:
    return WriteFile().invoke(args, ctx)


def edit(ctx: ToolContext, **args: object) -> ToolResult:
    return EditFile().invoke(args, ctx)


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# --- confinement ---------------------------------------------------------------------


def test_parent_escape_is_refused_for_every_tool(repo: Path, ctx: ToolContext) -> None:
    outside = repo.parent / "outside.txt"
    outside.write_text("secret\n")
    for result in (
        read(ctx, path="../outside.txt"),
        write(ctx, path="../outside.txt", content="x"),
        edit(ctx, path="sub/../../outside.txt", old_string="secret", new_string="x"),
    ):
        assert not result.ok
        assert "outside the repository" in result.text
    assert outside.read_text() == "secret\n"


def test_absolute_path_outside_is_refused_and_inside_is_allowed(
    repo: Path, ctx: ToolContext
) -> None:
    outside = repo.parent / "abs.txt"
    outside.write_text("x\n")
    assert "outside the repository" in read(ctx, path=str(outside)).text
    (repo / "in.txt").write_text("inside\n")
    assert read(ctx, path=str(repo / "in.txt")).text == "     1\tinside\n"


def test_symlink_to_outside_file_is_refused_for_read_and_write(
    repo: Path, ctx: ToolContext
) -> None:
    outside = repo.parent / "target.txt"
    outside.write_text("secret\n")
    (repo / "link.txt").symlink_to(outside)
    assert "through the symlink link.txt" in read(ctx, path="link.txt").text
    assert not write(ctx, path="link.txt", content="pwned\n").ok
    assert not edit(ctx, path="link.txt", old_string="secret", new_string="pwned").ok
    assert outside.read_text() == "secret\n"


def test_new_file_under_symlinked_dir_pointing_outside_is_refused(
    repo: Path, ctx: ToolContext
) -> None:
    elsewhere = repo.parent / "elsewhere"
    elsewhere.mkdir()
    (repo / "out").symlink_to(elsewhere)
    result = write(ctx, path="out/deeper/new.txt", content="x\n")
    assert not result.ok and "outside the repository" in result.text
    assert list(elsewhere.iterdir()) == []


def test_dangling_symlink_pointing_outside_is_refused(repo: Path, ctx: ToolContext) -> None:
    (repo / "dangling").symlink_to(repo.parent / "not-yet")
    assert not write(ctx, path="dangling", content="x\n").ok
    assert not (repo.parent / "not-yet").exists()


def test_symlink_inside_repo_edits_target_and_keeps_link(repo: Path, ctx: ToolContext) -> None:
    (repo / "real.txt").write_text("alpha\n")
    (repo / "alias.txt").symlink_to("real.txt")
    assert edit(ctx, path="alias.txt", old_string="alpha", new_string="beta").ok
    assert (repo / "alias.txt").is_symlink()
    assert (repo / "real.txt").read_text() == "beta\n"


@pytest.mark.parametrize("target", [".git/config", ".git/hooks/pre-commit", "a/../.git/x"])
def test_writes_into_dot_git_are_refused(repo: Path, ctx: ToolContext, target: str) -> None:
    result = write(ctx, path=target, content="#!/bin/sh\n")
    assert not result.ok and ".git/" in result.text
    assert edit(ctx, path=".git/config", old_string="[core]", new_string="[x]").ok is False
    assert (repo / ".git" / "config").read_text() == "[core]\n"
    assert not (repo / ".git" / "hooks").exists()


def test_writes_into_project_settings_are_refused(repo: Path, ctx: ToolContext) -> None:
    (repo / ".tessera").mkdir()
    (repo / ".tessera" / "config.toml").write_text('[sandbox]\nmode = "read-only"\n')
    result = write(ctx, path=".tessera/config.toml", content='[sandbox]\nmode = "full-access"\n')
    assert not result.ok and "project settings" in result.text
    assert not edit(ctx, path=".tessera/config.toml", old_string="read-only", new_string="x").ok
    assert '"read-only"' in (repo / ".tessera" / "config.toml").read_text()
    assert read(ctx, path=".tessera/config.toml").ok


def test_reading_dot_git_is_allowed(ctx: ToolContext) -> None:
    assert read(ctx, path=".git/config").ok


def test_secret_masked_by_the_sandbox_policy_is_refused(repo: Path) -> None:
    (repo / ".env").write_text("TOKEN=abc\n")
    (repo / "vault").mkdir()
    (repo / "vault" / "key.txt").write_text("k\n")
    policy = SandboxPolicy(extra_masked_paths=(str(repo / ".env"), str(repo / "vault")))
    ctx = ToolContext(repo=repo, sandbox=policy, syntax_guard="off")
    for result in (
        read(ctx, path=".env"),
        read(ctx, path="vault/key.txt"),
        write(ctx, path="vault/new.txt", content="x"),
        edit(ctx, path=".env", old_string="abc", new_string="x"),
    ):
        assert not result.ok and "secret path" in result.text
    assert (repo / ".env").read_text() == "TOKEN=abc\n"
    assert not (repo / "vault" / "new.txt").exists()


def test_read_only_sandbox_refuses_writes_but_not_reads(repo: Path) -> None:
    (repo / "f.txt").write_text("a\n")
    policy = SandboxPolicy(mode=SandboxMode.READ_ONLY)
    ctx = ToolContext(repo=repo, sandbox=policy, syntax_guard="off")
    assert read(ctx, path="f.txt").ok
    assert "read-only" in write(ctx, path="f.txt", content="b\n").text
    assert "read-only" in edit(ctx, path="f.txt", old_string="a", new_string="b").text
    assert (repo / "f.txt").read_text() == "a\n"


# --- atomicity, modes ----------------------------------------------------------------


def test_write_creates_parents_and_reports_created_then_overwritten(
    repo: Path, ctx: ToolContext
) -> None:
    first = write(ctx, path="a/b/c.txt", content="one\ntwo\n")
    assert first.ok and first.data["created"] is True
    assert first.text.startswith("Created a/b/c.txt (2 lines")
    second = write(ctx, path="a/b/c.txt", content="one\n")
    assert second.data["created"] is False
    assert "Overwrote a/b/c.txt: 2 -> 1 lines" in second.text
    assert (repo / "a/b/c.txt").read_text() == "one\n"
    assert leftovers(repo / "a/b") == []


def test_new_file_mode_follows_umask(repo: Path, ctx: ToolContext) -> None:
    old = os.umask(0o027)
    try:
        write(ctx, path="new.txt", content="x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((repo / "new.txt").stat().st_mode) == 0o640


@pytest.mark.parametrize("tool", ["write", "edit"])
def test_failed_replace_leaves_original_and_no_temp_file(
    repo: Path, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    target = repo / "keep.txt"
    target.write_text("original\n")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    if tool == "write":
        result = write(ctx, path="keep.txt", content="new\n")
    else:
        result = edit(ctx, path="keep.txt", old_string="original", new_string="new")
    assert not result.ok
    assert "No space left on device" in result.text
    assert target.read_text() == "original\n"
    assert leftovers(repo) == []


def test_mode_is_kept_by_write_and_edit(repo: Path, ctx: ToolContext) -> None:
    script = repo / "run.sh"
    script.write_text("echo one\n")
    script.chmod(0o751)
    assert edit(ctx, path="run.sh", old_string="one", new_string="two").ok
    assert stat.S_IMODE(script.stat().st_mode) == 0o751
    assert write(ctx, path="run.sh", content="echo three\n").ok
    assert stat.S_IMODE(script.stat().st_mode) == 0o751
    assert script.read_text() == "echo three\n"


# --- encodings and line endings -------------------------------------------------------


def test_crlf_file_matches_lf_old_string_and_stays_crlf(repo: Path, ctx: ToolContext) -> None:
    target = repo / "win.txt"
    target.write_bytes(b"first\r\nsecond\r\nthird\r\n")
    result = edit(ctx, path="win.txt", old_string="first\nsecond", new_string="1st\nnew\n2nd")
    assert result.ok, result.text
    assert target.read_bytes() == b"1st\r\nnew\r\n2nd\r\nthird\r\n"
    assert "\r" not in result.data["diff"]


def test_one_line_match_adding_lines_uses_file_line_endings(repo: Path, ctx: ToolContext) -> None:
    target = repo / "win.txt"
    target.write_bytes(b"a\r\nb\r\n")
    assert edit(ctx, path="win.txt", old_string="a", new_string="a\nadded").ok
    assert target.read_bytes() == b"a\r\nadded\r\nb\r\n"


def test_lf_regions_of_mixed_file_are_untouched(repo: Path, ctx: ToolContext) -> None:
    target = repo / "mixed.txt"
    target.write_bytes(b"one\r\ntwo\r\nthree\r\nfour\nfive\n")
    assert edit(ctx, path="mixed.txt", old_string="four\nfive", new_string="4\n5").ok
    assert target.read_bytes() == b"one\r\ntwo\r\nthree\r\n4\n5\n"


def test_write_file_keeps_crlf_of_existing_file(repo: Path, ctx: ToolContext) -> None:
    target = repo / "win.txt"
    target.write_bytes(b"old\r\n")
    result = write(ctx, path="win.txt", content="new\nlines\n")
    assert target.read_bytes() == b"new\r\nlines\r\n"
    assert "CRLF" in result.text


def test_utf8_bom_is_kept(repo: Path, ctx: ToolContext) -> None:
    target = repo / "bom.txt"
    target.write_bytes("\ufeffcafé\nthé\n".encode())
    assert read(ctx, path="bom.txt").text == "     1\tcafé\n     2\tthé\n"
    assert edit(ctx, path="bom.txt", old_string="thé", new_string="tea").ok
    assert target.read_bytes() == "\ufeffcafé\ntea\n".encode()


def test_latin1_round_trips_untouched_bytes_exactly(repo: Path, ctx: ToolContext) -> None:
    original = b"na\xefve caf\xe9\nsecond line \xa9 \xff\nend\n"
    target = repo / "legacy.txt"
    target.write_bytes(original)
    assert edit(ctx, path="legacy.txt", old_string="end", new_string="fin \xe9").ok
    assert target.read_bytes() == original.replace(b"end", b"fin \xe9")


def test_latin1_file_refuses_characters_it_cannot_hold(repo: Path, ctx: ToolContext) -> None:
    original = b"caf\xe9\n"
    target = repo / "legacy.txt"
    target.write_bytes(original)
    result = edit(ctx, path="legacy.txt", old_string="caf", new_string="→caf")
    assert not result.ok and "latin-1" in result.text
    assert target.read_bytes() == original


def test_utf16_with_bom_round_trips(repo: Path, ctx: ToolContext) -> None:
    target = repo / "wide.txt"
    target.write_bytes(b"\xff\xfe" + "hello\r\nworld\r\n".encode("utf-16-le"))
    assert edit(ctx, path="wide.txt", old_string="world", new_string="there").ok
    assert target.read_bytes() == b"\xff\xfe" + "hello\r\nthere\r\n".encode("utf-16-le")


# --- edit semantics ---------------------------------------------------------------------


def test_non_unique_match_names_each_line(repo: Path, ctx: ToolContext) -> None:
    (repo / "dup.txt").write_text("x = 1\ny = 2\nx = 1\nz\nx = 1\n")
    result = edit(ctx, path="dup.txt", old_string="x = 1", new_string="x = 9")
    assert not result.ok
    assert "occurs 3 times" in result.text and "lines 1, 3, 5" in result.text
    assert (repo / "dup.txt").read_text() == "x = 1\ny = 2\nx = 1\nz\nx = 1\n"


def test_replace_all_replaces_every_occurrence(repo: Path, ctx: ToolContext) -> None:
    (repo / "dup.txt").write_text("x = 1\ny = 2\nx = 1\n")
    result = edit(ctx, path="dup.txt", old_string="x = 1", new_string="x = 9", replace_all=True)
    assert result.ok and result.data["replacements"] == 2 and result.data["at_lines"] == [1, 3]
    assert (repo / "dup.txt").read_text() == "x = 9\ny = 2\nx = 9\n"


def test_no_match_reports_closest_region_with_line_numbers(repo: Path, ctx: ToolContext) -> None:
    body = [f"line {i} filler text" for i in range(1, 41)]
    body[19:22] = ["def compute(total):", "    result = total * 2", "    return result"]
    (repo / "code.txt").write_text("\n".join(body) + "\n")
    result = edit(
        ctx,
        path="code.txt",
        old_string="def compute(total):\n    result = total * 3\n    return result",
        new_string="pass",
    )
    assert not result.ok
    assert "closest region is lines 20-22" in result.text
    assert "    21\t    result = total * 2" in result.text


def test_closest_region_survives_a_missing_line_and_lists_others(
    repo: Path, ctx: ToolContext
) -> None:
    block = [
        "def load(path):",
        "    with open(path) as f:",
        "        data = f.read()",
        "    return parse(data)",
    ]
    other = [
        "def save(path, data):",
        "    with open(path, 'w') as f:",
        "        f.write(data)",
        "    return None",
    ]
    body = ["# header"] * 5 + other + ["", "# middle"] * 10 + block + ["# end"] * 5
    (repo / "io.txt").write_text("\n".join(body) + "\n")
    first_block_line = body.index("def load(path):") + 1
    # The model forgot the `with` line and misspelt a name.
    old = "def load(path):\n        data = f.read()\n    return parse(dat)"
    result = edit(ctx, path="io.txt", old_string=old, new_string="x")
    assert f"closest region is lines {first_block_line}-{first_block_line + 3}" in result.text
    assert "Other similar regions: lines 6-9" in result.text


def test_no_match_hints_at_whitespace_difference(repo: Path, ctx: ToolContext) -> None:
    (repo / "tabs.txt").write_text("start\nif x:\n\tdo_it()\n\tdone()\nend\n")
    result = edit(ctx, path="tabs.txt", old_string="if x:\n    do_it()", new_string="pass")
    assert not result.ok
    assert "matches lines 2-3 if whitespace is ignored" in result.text


def test_no_match_hints_at_line_number_prefixes(repo: Path, ctx: ToolContext) -> None:
    (repo / "n.txt").write_text("alpha\nbeta\n")
    result = edit(ctx, path="n.txt", old_string="     1\talpha\n     2\tbeta", new_string="x")
    assert "line numbers" in result.text


def test_no_similar_region_says_so(repo: Path, ctx: ToolContext) -> None:
    (repo / "n.txt").write_text("alpha\nbeta\n")
    result = edit(ctx, path="n.txt", old_string="completely unrelated words", new_string="x")
    assert not result.ok and "No similar region" in result.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"old_string": "same", "new_string": "same"}, "identical"),
        ({"old_string": "", "new_string": "x"}, "old_string is empty"),
    ],
)
def test_pointless_edits_are_errors(
    repo: Path, ctx: ToolContext, args: dict[str, str], message: str
) -> None:
    (repo / "f.txt").write_text("same\n")
    result = edit(ctx, path="f.txt", **args)
    assert not result.ok and message in result.text


def test_edit_of_missing_file_points_to_write_file(ctx: ToolContext) -> None:
    assert "use write_file" in edit(ctx, path="nope.txt", old_string="a", new_string="b").text


def test_edit_returns_unified_diff(repo: Path, ctx: ToolContext) -> None:
    (repo / "f.txt").write_text("a\nb\nc\n")
    result = edit(ctx, path="f.txt", old_string="b\n", new_string="B\nB2\n")
    assert result.data["diff"] == (
        "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n+B2\n c\n"
    )
    assert result.data["diff"] in result.text


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (json.dumps({"path": "f.txt", "old_string": "a"}), "new_string: Field required"),
        (json.dumps({"path": "f.txt", "old_string": 3, "new_string": "b"}), "old_string"),
        (
            json.dumps({"path": "f.txt", "old_string": "a", "new_string": "b", "force": 1}),
            "force",
        ),
        ('{"path": "f.txt", "old_string": ', "not valid JSON"),
    ],
)
def test_bad_arguments_name_the_field(ctx: ToolContext, raw: str, field: str) -> None:
    result = EditFile().invoke(raw, ctx)
    assert not result.ok and field in result.text


def test_read_rejects_non_positive_offset(ctx: ToolContext) -> None:
    result = ReadFile().invoke('{"path": "f.txt", "offset": 0}', ctx)
    assert not result.ok and "offset" in result.text


# --- reading --------------------------------------------------------------------------


def test_binary_file_is_refused(repo: Path, ctx: ToolContext) -> None:
    (repo / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = read(ctx, path="blob.bin")
    assert not result.ok and "binary" in result.text
    assert not edit(ctx, path="blob.bin", old_string="PNG", new_string="JPG").ok


def test_undecodable_control_heavy_file_is_refused(repo: Path, ctx: ToolContext) -> None:
    (repo / "noise.dat").write_bytes(bytes([0x80, 0x01, 0x02, 0x03, 0xFE, 0x05, 0x06]) * 50)
    assert "binary" in read(ctx, path="noise.dat").text


def test_huge_file_needs_a_range(
    repo: Path, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "HUGE_FILE_BYTES", 1000)
    (repo / "big.log").write_text("".join(f"entry {i}\n" for i in range(1, 501)))
    whole = read(ctx, path="big.log")
    assert not whole.ok and "offset and limit" in whole.text
    ranged = read(ctx, path="big.log", offset=250, limit=2)
    assert ranged.text.startswith("   250\tentry 250\n   251\tentry 251\n")
    assert ranged.data["next_offset"] == 252 and ranged.data["total_lines"] == 500


def test_huge_file_last_page_and_binary_refusal(
    repo: Path, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "HUGE_FILE_BYTES", 100)
    (repo / "big.log").write_bytes(b"".join(b"row %d\r\n" % i for i in range(1, 60)) + b"tail")
    page = read(ctx, path="big.log", offset=58, limit=10)
    assert page.text == "    58\trow 58\n    59\trow 59\n    60\ttail\n"
    assert page.data["next_offset"] is None and page.data["total_lines"] == 60
    (repo / "big.bin").write_bytes(b"\x00" * 500)
    assert "binary" in read(ctx, path="big.bin", offset=1).text


def test_default_page_and_continuation(repo: Path, ctx: ToolContext) -> None:
    ctx.result_limit = 10**6
    (repo / "long.txt").write_text("".join(f"{i}\n" for i in range(1, 2501)))
    first = read(ctx, path="long.txt")
    assert first.data["end_line"] == 2000 and first.data["next_offset"] == 2001
    assert "continue with offset=2001" in first.text
    second = read(ctx, path="long.txt", offset=2001)
    assert second.data["end_line"] == 2500 and second.data["next_offset"] is None
    assert "continue" not in second.text


def test_byte_bound_pages_reassemble_the_file(repo: Path, ctx: ToolContext) -> None:
    ctx.result_limit = 1024
    lines = [f"line {i}: " + "x" * (i % 37) for i in range(1, 301)]
    (repo / "f.txt").write_text("\n".join(lines) + "\n")
    seen: list[str] = []
    offset: int | None = 1
    while offset is not None:
        page = read(ctx, path="f.txt", offset=offset)
        assert page.ok and len(page.text.encode()) <= ctx.result_limit
        assert "truncated" not in page.data
        seen += [row.split("\t", 1)[1] for row in page.text.splitlines() if "\t" in row]
        offset = page.data["next_offset"]
    assert seen == lines


def test_limit_and_offset_past_end(repo: Path, ctx: ToolContext) -> None:
    (repo / "f.txt").write_text("a\nb\nc\n")
    assert read(ctx, path="f.txt", offset=2, limit=1).text.startswith("     2\tb\n")
    assert "past the end" in read(ctx, path="f.txt", offset=9).text


def test_read_of_directory_missing_and_empty_files(repo: Path, ctx: ToolContext) -> None:
    (repo / "pkg").mkdir()
    (repo / "empty.txt").write_text("")
    (repo / "config.toml").write_text("x = 1\n")
    assert "is a directory" in read(ctx, path="pkg").text
    assert "did you mean config.toml" in read(ctx, path="confg.toml").text
    assert read(ctx, path="empty.txt").text == "empty.txt is empty."


def test_very_long_line_is_cut(repo: Path, ctx: ToolContext) -> None:
    (repo / "min.js").write_text("x" * 10_000 + "\n")
    assert "line truncated: 10000 characters" in read(ctx, path="min.js").text


# --- syntax guard hook ------------------------------------------------------------------


@pytest.fixture
def fake_guard(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, str | None, str]]:
    """Replace the guard with one that objects to any text containing 'BROKEN'."""
    calls: list[tuple[Path, str | None, str]] = []

    def check_edit(path: Path, before: str | None, after: str) -> str | None:
        calls.append((path, before, after))
        return f"{path}: broken at line 1" if "BROKEN" in after else None

    monkeypatch.setattr(syntax_guard, "check_edit", check_edit)
    return calls


def test_guard_refusal_leaves_file_untouched(
    repo: Path, fake_guard: list[tuple[Path, str | None, str]]
) -> None:
    ctx = ToolContext(repo=repo, syntax_guard="refuse")
    (repo / "m.txt").write_text("fine\n")
    refused_edit = edit(ctx, path="m.txt", old_string="fine", new_string="BROKEN")
    refused_write = write(ctx, path="m.txt", content="BROKEN\n")
    refused_new = write(ctx, path="new.txt", content="BROKEN\n")
    for result in (refused_edit, refused_write, refused_new):
        assert not result.ok and "broken at line 1" in result.text
    assert (repo / "m.txt").read_text() == "fine\n"
    assert not (repo / "new.txt").exists()
    assert fake_guard[0] == (Path("m.txt"), "fine\n", "BROKEN\n")
    assert fake_guard[2][1] is None  # a new file has no "before"


def test_guard_warning_still_writes(
    repo: Path, fake_guard: list[tuple[Path, str | None, str]]
) -> None:
    ctx = ToolContext(repo=repo, syntax_guard="warn")
    (repo / "m.txt").write_text("fine\n")
    result = edit(ctx, path="m.txt", old_string="fine", new_string="BROKEN")
    assert result.ok and "Warning: m.txt: broken at line 1" in result.text
    assert (repo / "m.txt").read_text() == "BROKEN\n"


def test_real_guard_refuses_edit_that_breaks_python(repo: Path) -> None:
    ctx = ToolContext(repo=repo)
    (repo / "m.py").write_text("def f(x):\n    return x\n")
    result = edit(ctx, path="m.py", old_string="def f(x):", new_string="def f(x:")
    assert not result.ok and "line 1" in result.text
    assert (repo / "m.py").read_text() == "def f(x):\n    return x\n"
    assert edit(ctx, path="m.py", old_string="return x", new_string="return x + 1").ok


def test_an_edit_of_the_same_size_in_the_same_second_is_what_python_runs(
    repo: Path, ctx: ToolContext
) -> None:
    """Python trusts a .pyc whose recorded source mtime (whole seconds) and size match;
    an edit must not leave one behind that still holds the old code."""
    import subprocess
    import sys

    source = repo / "calc.py"
    source.write_text("def add(a, b):\n    return a - b\n")
    before = source.stat()
    probe = "import calc; print(calc.add(2, 3))"
    run = [sys.executable, "-c", probe]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    assert subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True).stdout == "-1\n"
    assert list((repo / "__pycache__").glob("calc.*.pyc"))
    result = EditFile().invoke({"path": "calc.py", "old_string": "a - b",
                                "new_string": "a + b"}, ctx)
    assert result.ok, result.text
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same second
    assert subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True).stdout == "5\n"
