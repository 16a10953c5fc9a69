"""`tessera review`: a replayed model reviews real diffs in temporary git repositories;
findings are read from its answer, checked against the diff, and reported."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent import events as ev
from agent.cli import main
from agent.replay import ReplayBackend, ReplayTurn
from agent.review import ReviewFailed, collect_diff, format_diff, review, review_task, run_review
from tests.support import call, write_replay


def findings_answer(*findings: dict, text: str = "One real bug.") -> str:
    return f"{text}\n\n```json\n{json.dumps({'findings': list(findings)})}\n```"


def backend(*turns: str) -> ReplayBackend:
    return ReplayBackend([ReplayTurn(raw, i) for i, raw in enumerate(turns, 1)])


PADDING = "".join(f"\n\ndef f{i}():\n    return {i}\n" for i in range(4))  # lines 3-18
CALC = "def add(a, b):\n    return a - b\n" + PADDING


@pytest.fixture()
def changed(repo: Path) -> Path:
    """calc.py (18 lines committed) gains a multiply with a bug on line 22; an untracked
    helper file appears."""
    from tests.support import git

    (repo / "calc.py").write_text(CALC)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "padding")
    (repo / "calc.py").write_text(CALC + "\n\ndef mul(a, b):\n    return a + b\n")
    (repo / "helper.py").write_text("def twice(x):\n    return 2 * x\n")
    return repo


def test_the_request_numbers_new_lines_and_includes_untracked_files(changed: Path) -> None:
    text = format_diff(collect_diff(changed))
    assert "### calc.py: modified" in text and "### helper.py: added" in text
    assert "   22 +     return a + b" in text  # mul's body on new line 22
    assert "   18       return 3" in text  # context keeps its new-side number
    assert "    1 + def twice(x):" in text


def test_findings_are_read_checked_and_emitted(changed: Path) -> None:
    answer = findings_answer(
        {"file": "calc.py", "line": 22, "severity": "error", "message": "mul adds",
         "suggestion": "    return a * b"},
        {"file": "b/helper.py", "line": "1", "severity": "Info", "message": "fine name"},
        {"file": "calc.py", "line": 1, "severity": "warning", "message": "add untested"},
        {"file": "nowhere.py", "line": 1, "severity": "error", "message": "x"},
        {"file": "calc.py", "line": 99, "severity": "error", "message": "x"},
        {"file": "calc.py", "line": 22, "severity": "critical", "message": "x"},
        {"file": "calc.py", "severity": "error"},
    )
    seen: list[ev.Event] = []
    report = asyncio.run(run_review(
        changed, "HEAD", backend(call("read_file", path="calc.py"), answer), seen.append))
    assert report.status == "done"
    assert [(f.file, f.line, f.severity, f.in_hunk) for f in report.findings] == [
        ("calc.py", 22, "error", True), ("helper.py", 1, "info", True),
        ("calc.py", 1, "warning", False),
    ]
    assert report.findings[0].suggestion == "    return a * b"
    assert report.problems == [
        "findings[3]: nowhere.py is not a file of the diff",
        "findings[4]: line 99 is past the end of calc.py (22 lines)",
        'findings[5]: severity "critical" is not one of error, warning, info',
        "findings[6]: missing line, message",
    ]
    kinds = [e.type for e in seen]
    assert kinds[0] == "session_start" and kinds[-1] == "finish" and kinds.count("finish") == 1
    assert "tool_result" in kinds  # the model read a file with a read-only tool
    assert [e.line for e in seen if isinstance(e, ev.Finding)] == [22, 1, 1]
    finish = seen[-1]
    assert isinstance(finish, ev.Finish)
    assert finish.summary == ("3 finding(s) in 2 file(s): 1 error, 1 warning, 1 info; "
                              "4 rejected")


def test_review_is_read_only(changed: Path) -> None:
    answer = findings_answer()
    seen: list[ev.Event] = []
    asyncio.run(run_review(changed, "HEAD", backend(
        call("edit_file", path="calc.py", old_string="a + b", new_string="a * b"), answer),
        seen.append))
    assert "a + b" in (changed / "calc.py").read_text()
    start = seen[0]
    assert isinstance(start, ev.SessionStart) and start.approval == "read-only"
    assert all(e.value == "high" for e in seen if isinstance(e, ev.Effort))


def test_unreadable_answer_is_a_precise_failure(changed: Path) -> None:
    with pytest.raises(ReviewFailed, match="no ```json block"):
        asyncio.run(review(changed, "HEAD", backend("Looks good to me.")))
    with pytest.raises(ReviewFailed, match=r"line 1 column \d+"):
        asyncio.run(review(changed, "HEAD", backend("```json\n{findings: []}\n```")))


def test_review_function_returns_findings_and_no_diff_asks_nothing(changed: Path,
                                                                    repo: Path) -> None:
    found = asyncio.run(review(changed, "HEAD", backend(findings_answer(
        {"file": "calc.py", "line": 22, "severity": "error", "message": "mul adds"}))))
    assert [(f.file, f.line) for f in found] == [("calc.py", 22)]
    (changed / "helper.py").unlink()
    (changed / "calc.py").write_text(CALC)
    assert asyncio.run(review(changed, "HEAD", backend())) == []  # no turn was needed


def test_base_ref_and_deleted_files(repo: Path) -> None:
    from tests.support import git

    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "check.py").unlink()
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "drop check")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    text = review_task(collect_diff(repo, first), first)
    assert "### check.py: deleted" in text and f"against {first}" in text
    found = asyncio.run(review(repo, first, backend(findings_answer(
        {"file": "check.py", "line": 2, "severity": "warning", "message": "the check is gone"},
    ))))
    assert [(f.file, f.line, f.in_hunk) for f in found] == [("check.py", 2, True)]
    report = asyncio.run(run_review(repo, first, backend(findings_answer(
        {"file": "check.py", "line": 40, "severity": "info", "message": "x"})), lambda e: None))
    assert report.status == "done" and report.findings == []
    assert report.problems == ["findings[0]: line 40 is outside the deleted lines of check.py"]


def test_cli_json_and_exit_codes(changed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bug = findings_answer({"file": "calc.py", "line": 22, "severity": "error",
                           "message": "mul adds"})
    replay = write_replay(changed.parent / "r.jsonl", [bug])
    code = main(["review", "--repo", str(changed), "--backend", f"replay:{replay}", "--json",
                 "--repo-map-tokens", "0"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 3
    assert [x for x in lines if x["type"] == "finding"] == [{
        "type": "finding", "file": "calc.py", "line": 22, "severity": "error",
        "message": "mul adds", "suggestion": None, "in_hunk": True}]
    assert lines[-1]["type"] == "finish" and lines[-1]["status"] == "done"

    mild = findings_answer({"file": "calc.py", "line": 21, "severity": "warning",
                            "message": "no docstring"})
    replay = write_replay(changed.parent / "r.jsonl", [mild])
    code = main(["review", "--repo", str(changed), "--backend", f"replay:{replay}",
                 "--repo-map-tokens", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "calc.py:21: warning: no docstring" in out and "1 finding(s)" in out
    assert "One real bug." in out and '"findings"' not in out  # the words, not the JSON

    misplaced = findings_answer({"file": "calc.py", "line": 400, "severity": "error",
                                 "message": "real bug, wrong line"})
    replay = write_replay(changed.parent / "r.jsonl", [misplaced])
    code = main(["review", "--repo", str(changed), "--backend", f"replay:{replay}",
                 "--repo-map-tokens", "0"])
    assert code == 3 and "line 400 is past the end" in capsys.readouterr().out

    replay = write_replay(changed.parent / "r.jsonl", ["No JSON here."])
    code = main(["review", "--repo", str(changed), "--backend", f"replay:{replay}",
                 "--repo-map-tokens", "0"])
    assert code == 1 and "no ```json block" in capsys.readouterr().out
    code = main(["review", "--repo", str(changed), "--base", "no-such-ref",
                 "--backend", f"replay:{replay}", "--repo-map-tokens", "0"])
    assert code == 1 and "no-such-ref" in capsys.readouterr().out


def test_any_answer_gives_findings_or_a_precise_problem() -> None:
    import random

    from agent.review_findings import NoFindingsBlock, extract_findings_json

    pieces = ["```json\n", "```", "{", "}", "[", "]", '"findings"', ":", ",", "1", '"x"',
              "null", "\n", "text ", "```JSON\n", "[" * 5000]
    rng = random.Random(7)
    for _ in range(400):
        answer = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        try:
            found = extract_findings_json(answer)
        except NoFindingsBlock as exc:
            assert str(exc)
        else:
            assert isinstance(found, list)
