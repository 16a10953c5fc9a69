"""SVG snapshots of the main screens (pytest-textual-snapshot). After an intended change
of the look, refresh them with `pytest tests/tui/test_snapshots.py --snapshot-update` and
look at the report before committing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.scenes import SCENES, SIZE, prepare

pytestmark = pytest.mark.require_module("pytest_textual_snapshot")  # the dev extra


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_main_screens(
    scene: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snap_compare
) -> None:
    repo = prepare(tmp_path, monkeypatch.setenv)
    make, before = SCENES[scene]
    assert snap_compare(make(repo), terminal_size=SIZE, run_before=before)
