"""What the model is told when its output cannot be read as tool calls (replayed sessions
through the real parser and loop), and the loud end of repeated failures."""

from __future__ import annotations

from pathlib import Path

from agent import events as ev
from agent.call_format import expected_form, misplaced_call
from tests.agent.conftest import of_type, run_session
from tests.support import call
from tools.files import ReadFile
from tools.registry import default_tools

READ_FORM = ('[TOOL_CALLS]read_file[ARGS]{"path": "<text>", "offset": <integer> (optional), '
             '"limit": <integer> (optional)}')
TOOLS = {t.name: t for t in default_tools()}


def notes(events: list[ev.Event]) -> list[str]:
    return [m.text for m in of_type(events, ev.UserMessage) if m.origin == "agent"]


def test_the_expected_form_names_each_argument_and_its_type() -> None:
    assert expected_form(ReadFile()) == READ_FORM


def test_bad_json_arguments_are_quoted_with_the_expected_form(repo: Path) -> None:
    bad = '[TOOL_CALLS]read_file[ARGS]{"path": calc.py}'
    finish, events = run_session(repo, [bad, call("read_file", path="calc.py"), "It subtracts."])
    assert finish.status == "done"
    [note] = notes(events)
    assert "tool call 'read_file': arguments are not valid JSON" in note
    assert 'you wrote: {"path": calc.py}' in note
    assert f"expected:  {READ_FORM}" in note


def test_wrong_names_and_arguments_get_the_closest_tool_and_its_form(repo: Path) -> None:
    turns = [call("read_fiel", path="calc.py"), call("read_file", file="calc.py"), "Gave up."]
    _finish, events = run_session(repo, turns)
    unknown, invalid = (r.output for r in of_type(events, ev.ToolResult))
    assert "unknown tool 'read_fiel'" in unknown and "Did you mean 'read_file'?" in unknown
    assert READ_FORM in unknown
    assert "invalid arguments for read_file" in invalid and "path: Field required" in invalid
    assert f"Expected: {READ_FORM}" in invalid


def test_a_call_in_another_format_is_not_a_silent_finish(repo: Path) -> None:
    turns = [
        'I will read it.\n{"name": "read_file", "arguments": {"path": "calc.py"}}',
        '<tool_call>{"name": "read_file", "arguments": {"path": "calc.py"}}</tool_call>',
        call("read_file", path="calc.py"),
        "It subtracts.",
    ]
    finish, events = run_session(repo, turns)
    assert (finish.status, finish.steps, finish.summary) == ("done", 4, "It subtracts.")
    first, second = notes(events)
    assert "a tool call written as a JSON object in the answer text" in first
    assert f"expected:  {READ_FORM}" in first
    assert "outside the chat format" in second and "<tool_call>" in second
    # The second failure in a row is said loudly, as an error event (not fatal yet).
    [error] = of_type(events, ev.Error)
    assert not error.fatal and "2 steps in a row" in error.message
    assert "outside the chat format" in error.message


def test_repeated_failures_end_the_run_with_a_loud_error(repo: Path) -> None:
    finish, events = run_session(repo, ['[TOOL_CALLS]read_file[ARGS]"calc.py"'] * 6)
    assert finish.status == "error" and finish.steps == 4
    errors = of_type(events, ev.Error)
    assert [e.fatal for e in errors] == [False, False, True]
    assert "4 steps in a row (gave up)" in errors[-1].message
    assert "arguments must be a JSON object" in errors[-1].message
    assert events[-2:] == [errors[-1], finish]  # the fatal error, then the finish


def test_plain_answers_and_examples_are_not_taken_for_calls() -> None:
    assert misplaced_call("add() subtracts; fixed it.", TOOLS) is None
    assert misplaced_call('Config: {"name": "x", "value": 1}', TOOLS) is None
    assert misplaced_call("", TOOLS) is None
