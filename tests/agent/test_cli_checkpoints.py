"""`tessera checkpoints` and `tessera undo`, through the CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from tests.tools.git.helpers import git, make_repo, tree_state, write
from tools.git import open_repo
from tools.git.checkpoints import create_checkpoint, list_checkpoints


def test_list_and_undo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path / "repo")
    write(root, "kept.py", "x = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    write(root, "kept.py", "x = 2  # unstaged\n")
    before = tree_state(root)
    repo = open_repo(root)
    assert main(["checkpoints", "--repo", str(root)]) == 0
    assert "No checkpoints" in capsys.readouterr().out

    checkpoint = create_checkpoint(repo, "before edit")
    write(root, "kept.py", "x = 3  # the agent\n")
    write(root, "junk.py", "made by the agent\n")
    assert main(["checkpoints", "--repo", str(root)]) == 0
    listing = capsys.readouterr().out
    assert checkpoint.id in listing and "before edit" in listing

    assert main(["undo", "--repo", str(root)]) == 0
    out = capsys.readouterr().out
    assert tree_state(root) == before
    assert f"Restored checkpoint {checkpoint.id}" in out
    assert "restored 1 file: kept.py" in out and "junk.py" in out
    safety = list_checkpoints(repo)[0]
    assert safety.kind == "safety" and f"tessera undo --to {safety.id}" in out

    assert main(["undo", "--repo", str(root), "--to", safety.id]) == 0
    assert (root / "junk.py").read_text() == "made by the agent\n"


def test_errors_are_messages_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["undo", "--repo", str(tmp_path)]) == 2
    assert "git init" in capsys.readouterr().err
    root = make_repo(tmp_path / "repo")
    assert main(["undo", "--repo", str(root), "--to", "nope"]) == 1
    assert "no checkpoint 'nope'" in capsys.readouterr().err
    assert main(["undo", "--repo", str(root)]) == 1
    assert "nothing to undo" in capsys.readouterr().err
