import json

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from model.stream_parser import (
    MARKERS,
    EndOfTurn,
    ParseError,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    coalesce,
    parse,
)

plain_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40
).filter(lambda t: not any(m in t for m in MARKERS) and not any(
    t.endswith(m[:k]) for m in MARKERS for k in range(1, len(m))))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
tool_names = st.sampled_from(["read_file", "ls", "apply_patch", "run.shell", "grep-2"])
calls = st.lists(st.tuples(tool_names, arguments), max_size=3)


def render(thinking: str, text: str, tool_calls: list, eos: bool = True) -> str:
    out = f"[THINK]{thinking}[/THINK]" if thinking else ""
    out += text
    for name, args in tool_calls:
        out += f"[TOOL_CALLS]{name}[ARGS]{json.dumps(args)}"
    return out + ("</s>" if eos else "")


def split_at(raw: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(raw)]:
        pieces.append(raw[start:point])
        start = point
    return pieces


@given(plain_text, plain_text, calls)
def test_rendered_turn_parses_back(thinking, text, tool_calls) -> None:
    events = coalesce(parse([render(thinking, text, tool_calls)]))
    expected = []
    if thinking:
        expected.append(ThinkingDelta(thinking))
    if text:
        expected.append(TextDelta(text))
    for index, (name, args) in enumerate(tool_calls):
        expected.append(ToolCallEvent(index, name, args, json.dumps(args)))
    assert events == [*expected, EndOfTurn()]


@given(plain_text, plain_text, calls, st.lists(st.integers(min_value=0), max_size=12))
def test_any_chunking_gives_the_same_events(thinking, text, tool_calls, cuts) -> None:
    raw = render(thinking, text, tool_calls)
    assert coalesce(parse(split_at(raw, cuts))) == coalesce(parse([raw]))


FRAGMENTS = [*MARKERS, "[", "]", "<", "/s", "{", "}", '"', "\\", ":", ",", "1", "x", " ", "é",
             "[THI", "NK]", "[TOOL_", "CALLS]", "ARGS]", "</"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30),
       st.lists(st.integers(min_value=0), max_size=10),
       st.none() | st.lists(tool_names, max_size=2))
def test_fuzzed_output_never_raises_and_is_chunking_invariant(pieces, cuts, known) -> None:
    raw = "".join(pieces)
    whole = parse([raw], known_tools=known)
    assert all(isinstance(e, (TextDelta, ThinkingDelta, ToolCallEvent, ParseError, EndOfTurn))
               for e in whole)
    assert coalesce(parse(split_at(raw, cuts), known_tools=known)) == coalesce(whole)


@given(plain_text, st.lists(st.tuples(tool_names, arguments), min_size=1, max_size=2),
       st.integers(min_value=0))
def test_truncated_calls_end_with_a_precise_error(text, tool_calls, cut) -> None:
    raw = render("", text, tool_calls, eos=False)
    prefix = raw[: cut % (len(raw) + 1)]
    events = parse([prefix])
    last_call = prefix.rfind("[TOOL_CALLS]")
    assume(last_call >= 0)
    tail = prefix[last_call:]
    complete = any(tail == f"[TOOL_CALLS]{n}[ARGS]{json.dumps(a)}" for n, a in tool_calls)
    if complete:
        assert isinstance(events[-1], ToolCallEvent)
    else:
        assert isinstance(events[-1], ParseError)
        assert "truncated" in events[-1].message or "invalid tool name" in events[-1].message


def test_malformed_calls_are_named_precisely() -> None:
    bad_json = parse(['[TOOL_CALLS]ls[ARGS]{"a": tru}'])
    assert bad_json == [ParseError(
        "tool call 'ls': arguments are not valid JSON: Expecting value at character 6",
        '{"a": tru}')]
    unknown = parse(["[TOOL_CALLS]rm[ARGS]{}</s>"], known_tools=["ls"])
    assert unknown[0] == ParseError("unknown tool 'rm' (known: ls)", "rm")
    assert unknown[1] == EndOfTurn()
    not_object = parse(["[TOOL_CALLS]ls[ARGS]42</s>"])
    assert "must be a JSON object" in not_object[0].message
    no_args = parse(["[TOOL_CALLS]ls</s>"])
    assert no_args[0].message == "tool call 'ls' has no [ARGS] before </s>"
    cut = parse(['[TOOL_CALLS]a[ARGS]{"x": 1[TOOL_CALLS]b[ARGS]{}'])
    assert cut[0].message == "tool call 'a': [TOOL_CALLS] before its arguments closed"
    assert cut[1] == ToolCallEvent(1, "b", {}, "{}")
    unclosed = parse(["[THINK]hmm"])
    assert unclosed == [ThinkingDelta("hmm"),
                        ParseError("output ended inside [THINK] (no [/THINK])")]


def test_text_is_streamed_before_the_turn_ends() -> None:
    from model.stream_parser import StreamParser

    parser = StreamParser()
    assert parser.feed("Hello [") == [TextDelta("Hello ")]  # "[" may start a marker: held back
    assert parser.feed("x") == [TextDelta("[x")]
    assert parser.feed("[THINK]a") == [ThinkingDelta("a")]
