"""`tessera sessions TEXT --repo DIR`: stored sessions found by what was said in them
(task, later messages, answers) and by their repository, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from tests.support import init_repo, write_replay


def run(repo: Path, task: str, answer: str) -> None:
    replay = write_replay(repo.parent / f"{task[:5]}.jsonl", [answer])
    assert main(["run", task, "--repo", str(repo), "--backend", f"replay:{replay}",
                 "--repo-map-tokens", "0"]) == 0


def listed(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["sessions", *argv]) == 0
    return capsys.readouterr().out


def test_search_by_text_and_repository(repo: Path, tmp_path: Path, capsys) -> None:
    other = init_repo(tmp_path / "other-project", {"x.py": "x = 1\n"})
    run(repo, "where is the tokenizer", "It is in lexer.py, line 40.")
    run(other, "rename the config loader", "Renamed; 3 call sites changed.")
    capsys.readouterr()
    assert "where is the tokenizer" in listed(capsys, "LEXER.PY")  # an answer, any case
    found = listed(capsys, "config", "loader")  # words are one phrase
    assert "rename the config loader" in found and "tokenizer" not in found
    found = listed(capsys, "--repo", str(other))
    assert "rename the config loader" in found and "tokenizer" not in found
    found = listed(capsys, "--repo", "other-proj")  # a part of the path
    assert "rename the config loader" in found and "tokenizer" not in found
    assert "no session matches" in listed(capsys, "tokenizer", "--repo", str(other))
    assert "no session matches" in listed(capsys, "100%")  # % is literal, not a wildcard
