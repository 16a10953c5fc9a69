"""The one atomic write (tools/atomic.py), as its callers outside the file tools use it:
caches, stored images, restored and reverted files, settings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tools.atomic import write_atomically


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_creates_parents_and_reports_creation(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "settings.toml"
    assert write_atomically(target, b"one\n") is True
    assert write_atomically(target, b"two\n") is False
    assert target.read_bytes() == b"two\n" and leftovers(target.parent) == []


def test_existing_mode_is_kept_unless_a_mode_is_given(tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("old\n")
    target.chmod(0o750)
    write_atomically(target, b"new\n", durable=False)
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    write_atomically(target, b"newer\n", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_new_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomically(tmp_path / "private", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_a_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("real\n")
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    write_atomically(link, b"file now\n")
    assert not link.is_symlink() and link.read_text() == "file now\n"
    assert (tmp_path / "real.txt").read_text() == "real\n"


def test_a_directory_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomically(tmp_path / "folder", b"x")
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_a_name_near_the_length_limit_fits(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 250)
    write_atomically(target, b"x")
    assert target.read_bytes() == b"x"
