"""Agent Skills: found in the user's and the repository's folders, listed by name and
description, read through the `skill` tool when used, malformed ones reported by
`tessera doctor` without stopping a session, and never a way to widen approvals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import events as ev
from agent.cli import main
from agent.doctor import check_skills
from agent.skills import discover_skills
from tests.agent.conftest import of_type, run_session
from tests.support import call

REVIEW_BODY = "1. Run the linter.\n2. Read references/checklist.md.\n"


def make_skill(root: Path, name: str, front: str, body: str = "Do it well.\n") -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(f"---\n{front}---\n{body}")
    return folder


def user_skills(home: Path) -> Path:
    return home / "config" / "tessera" / "skills"


def test_skills_come_from_the_user_and_both_repository_folders(
    repo: Path, isolated_home: Path
) -> None:
    make_skill(user_skills(isolated_home), "release-notes", "name: release-notes\n"
               "description: Write release notes from the git log.\n")
    make_skill(repo / ".tessera" / "skills", "code-review", "name: code-review\n"
               "description: Review a change.\nallowed-tools: read_file grep\n", REVIEW_BODY)
    make_skill(repo / ".agents" / "skills", "db-migrate", "name: db-migrate\n"
               "description: >\n  Add a database\n  migration.\n")
    skills, problems = discover_skills(repo)
    assert problems == []
    assert [(s.name, s.scope) for s in skills] == [
        ("release-notes", "user"), ("code-review", "repository"), ("db-migrate", "repository")]
    assert skills[1].allowed_tools == ("read_file", "grep")
    assert skills[2].description == "Add a database migration."


def test_malformed_skills_are_left_out_and_reported_by_doctor(
    repo: Path, isolated_home: Path
) -> None:
    root = repo / ".agents" / "skills"
    make_skill(root, "good", "name: good\ndescription: Fine.\n")
    make_skill(root, "Bad_Name", "name: Bad_Name\ndescription: x\n")
    make_skill(root, "other", "name: renamed\ndescription: x\n")
    make_skill(root, "silent", "name: silent\n")
    make_skill(root, "broken", "name: [unclosed\n")
    (root / "empty").mkdir()
    (root / "plain").mkdir()
    (root / "plain" / "SKILL.md").write_text("Just text, no front matter.\n")
    skills, problems = discover_skills(repo)
    assert [s.name for s in skills] == ["good"]
    why = {p.path.parent.name if p.path.name == "SKILL.md" else p.path.name: p.problem
           for p in problems}
    assert "lower-case words joined by hyphens" in why["Bad_Name"]
    assert "differs from its folder's name" in why["other"]
    assert "`description`" in why["silent"]
    assert "not valid YAML" in why["broken"]
    assert "no SKILL.md" in why["empty"]
    assert "no front matter" in why["plain"]
    checks = check_skills(repo)
    assert checks[0].ok and checks[0].detail == "1 loaded: good"
    assert len([c for c in checks if not c.ok]) == 6
    assert not any(c.required for c in checks)  # reported, never fatal

    finish, _ = run_session(repo, ["Done."])  # a session starts anyway
    assert finish.status == "done"


def test_the_prompt_lists_skills_and_the_body_is_read_only_when_used(
    repo: Path, isolated_home: Path
) -> None:
    folder = make_skill(repo / ".tessera" / "skills", "code-review",
                        "name: code-review\ndescription: Review a change.\n", REVIEW_BODY)
    (folder / "references").mkdir()
    (folder / "references" / "checklist.md").write_text("- no prints\n")
    turns = [call("skill", skill="code-review"),
             call("skill", skill="code-review", file="references/checklist.md"),
             call("skill", skill="code-review", file="../../../calc.py"),
             "Reviewed."]
    finish, events = run_session(repo, turns, task="review my change")
    assert finish.status == "done"
    start = of_type(events, ev.SessionStart)[0]
    assert "- code-review: Review a change." in start.system_prompt
    assert "Run the linter" not in start.system_prompt
    body, reference, escape = of_type(events, ev.ToolResult)
    assert body.ok and REVIEW_BODY in body.output and "references/checklist.md" in body.output
    assert body.data["skill"] == "code-review" and body.data["scope"] == "repository"
    assert reference.ok and reference.output == "- no prints\n"
    assert not escape.ok and "outside the folder" in escape.output


def test_a_repository_skills_allowed_tools_widen_nothing(repo: Path, isolated_home: Path) -> None:
    make_skill(repo / ".agents" / "skills", "writer", "name: writer\n"
               "description: Writes files.\nallowed-tools: [write_file, bash]\n")
    turns = [call("skill", skill="writer"),
             call("write_file", path="out.txt", content="x\n"), "Done."]
    _, events = run_session(repo, turns, task="write")  # the default policy: ask
    skill_result, write_result = of_type(events, ev.ToolResult)
    assert "It expects the tools: write_file, bash (approvals are unchanged" in skill_result.output
    assert not write_result.ok and not (repo / "out.txt").exists()
    (approval,) = of_type(events, ev.Approval)
    assert approval.decision == "denied"


def test_no_skills_no_skill_tool(repo: Path, isolated_home: Path) -> None:
    _, events = run_session(repo, [call("skill", skill="x"), "Done."])
    (result,) = of_type(events, ev.ToolResult)
    assert "unknown tool 'skill'" in result.output
    assert "# Skills" not in of_type(events, ev.SessionStart)[0].system_prompt


def test_doctor_json_lists_the_skills_section(
    repo: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_skill(repo / ".agents" / "skills", "good", "name: good\ndescription: Fine.\n")
    main(["doctor", "--json", "--repo", str(repo)])
    skills = [c for c in json.loads(capsys.readouterr().out) if c["section"] == "skills"]
    assert skills[0]["detail"] == "1 loaded: good"
