"""With an editor driving the session, the file tools read and write its buffers (an
unsaved change is seen, an edit lands in the buffer, the disk is untouched); an editor
that does not offer a capability leaves that side to the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.base import ToolContext
from tools.editor_files import EditorFileError
from tools.files import EditFile, ReadFile, WriteFile

DISK = "def f():\n    return 1\n"
BUFFER = "def f():\n    return 1  # unsaved\n"


class Buffers:
    """An editor of our EditorFiles protocol: buffers by path, each side switchable."""

    def __init__(self, texts: dict[Path, str], *, reads: bool = True, writes: bool = True,
                 broken: bool = False) -> None:
        self.texts, self.reads, self.writes, self.broken = texts, reads, writes, broken

    def read(self, path: Path) -> str | None:
        if self.broken:
            raise EditorFileError("buffer is locked")
        return self.texts.get(path, path.read_text()) if self.reads else None

    def write(self, path: Path, text: str) -> bool:
        if self.writes:
            self.texts[path] = text
        return self.writes


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "f.py"
    path.write_text(DISK)
    return path


def test_reads_and_edits_go_through_the_buffer(tmp_path: Path, source: Path) -> None:
    editor = Buffers({source: BUFFER})
    ctx = ToolContext(tmp_path, editor=editor)
    assert "# unsaved" in ReadFile().invoke({"path": "f.py"}, ctx).text
    result = EditFile().invoke({"path": "f.py", "old_string": "return 1",
                                "new_string": "return 2"}, ctx)
    assert result.ok, result.text
    assert editor.texts[source] == "def f():\n    return 2  # unsaved\n"
    assert source.read_text() == DISK
    assert WriteFile().invoke({"path": "new.py", "content": "x = 1\n"}, ctx).ok
    assert editor.texts[tmp_path / "new.py"] == "x = 1\n" and not (tmp_path / "new.py").exists()


def test_an_editor_without_a_side_leaves_it_to_the_disk(tmp_path: Path, source: Path) -> None:
    editor = Buffers({source: BUFFER}, reads=False, writes=False)
    ctx = ToolContext(tmp_path, editor=editor)
    assert "# unsaved" not in ReadFile().invoke({"path": "f.py"}, ctx).text
    assert EditFile().invoke({"path": "f.py", "old_string": "return 1",
                              "new_string": "return 2"}, ctx).ok
    assert source.read_text() == "def f():\n    return 2\n" and editor.texts[source] == BUFFER


def test_an_editor_failure_is_the_calls_error(tmp_path: Path, source: Path) -> None:
    result = ReadFile().invoke({"path": "f.py"}, ToolContext(tmp_path, editor=Buffers(
        {}, broken=True)))
    assert not result.ok and "the editor could not read f.py: buffer is locked" in result.text
