import functools
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.chat import ChatError, Conversation, ToolCall, ToolSpec, Turn, encode
from model.stream_parser import (
    EndOfTurn,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    coalesce,
    decode_with_specials,
    parse,
)
from model.tokenizer import load_tokenizer, special_id, write_v15_tekken

READ = ToolSpec("read_file", "Read a file", {"type": "object",
                                             "properties": {"path": {"type": "string"}}})


@functools.cache
def tokenizer():
    directory = Path(tempfile.mkdtemp(prefix="tessera-v15-"))
    write_v15_tekken(directory / "tekken.json", 2048,
                     {"image_patch_size": 14, "max_image_size": 112, "spatial_merge_size": 2})
    return load_tokenizer(directory)


def test_v15_layout_puts_tools_and_settings_before_the_first_user_message() -> None:
    conversation = Conversation(
        turns=(Turn("system", "Be brief."), Turn("user", "Read a.py"),
               Turn("assistant", "Reading.", thinking="plan",
                    tool_calls=(ToolCall("read_file", {"path": "a.py"}),)),
               Turn("tool", "print(1)", name="read_file"), Turn("user", "Thanks")),
        tools=(READ,), reasoning_effort="high")
    text = encode(conversation, tokenizer()).text
    assert text.startswith("<s>[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT][AVAILABLE_TOOLS]")
    settings_at = text.index('[MODEL_SETTINGS]{"reasoning_effort": "high"}[/MODEL_SETTINGS]')
    assert settings_at < text.index("[INST]Read a.py[/INST]")
    assert ('[THINK]plan[/THINK]Reading.[TOOL_CALLS]read_file[ARGS]{"path": "a.py"}</s>'
            "[TOOL_RESULTS]print(1)[/TOOL_RESULTS][INST]Thanks[/INST]") in text
    assert "[CALL_ID]" not in text


def test_effort_changes_tokens_near_the_start() -> None:
    turns = (Turn("user", "hi"),)
    low = encode(Conversation(turns, reasoning_effort="none"), tokenizer()).tokens
    high = encode(Conversation(turns, reasoning_effort="high"), tokenizer()).tokens
    first_difference = next(i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b)
    assert first_difference < high.index(special_id(tokenizer(), "[INST]"))


def test_images_become_image_tokens(tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (60, 30), "red").save(path)
    encoded = encode(Conversation((Turn("user", "what colour?", images=(path,)),)), tokenizer())
    assert len(encoded.images) == 1 and encoded.images[0].shape[0] == 3
    img = special_id(tokenizer(), "[IMG]")
    assert encoded.tokens.count(img) == 3 * 2  # ceil(60/28) × ceil(30/28) before merging rows
    assert encoded.tokens.count(special_id(tokenizer(), "[IMG_END]")) == 1


def test_invalid_conversation_is_a_chat_error() -> None:
    with pytest.raises(ChatError, match="mistral-common refused"):
        encode(Conversation((Turn("assistant", "I speak first"),)), tokenizer())


words = st.text(alphabet="abcdefghij klmnopqrstuvwxyz.,!?0123456789éü€{}\"", min_size=1,
                max_size=30).map(str.strip).filter(bool)
arguments = st.dictionaries(st.sampled_from(["path", "pattern", "n", "flags"]),
                            st.integers() | st.text(max_size=10) | st.booleans(), max_size=3)


@settings(max_examples=40, deadline=None)
@given(thinking=st.none() | words, text=st.none() | words,
       calls=st.lists(st.tuples(st.sampled_from(["read_file", "ls"]), arguments), max_size=3))
def test_encoded_assistant_turn_parses_back(thinking, text, calls) -> None:
    assistant = Turn("assistant", text or "", thinking=thinking or "",
                     tool_calls=tuple(ToolCall(name, args) for name, args in calls))
    if not (text or calls):
        assistant = Turn("assistant", "ok", thinking=thinking or "")
    follow = tuple(Turn("tool", f"result {i}", name=name) for i, (name, _) in enumerate(calls))
    turns = (Turn("user", "go"), assistant, *follow) + (() if calls else (Turn("user", "more"),))
    tokens = encode(Conversation(turns, tools=(READ,)), tokenizer()).tokens
    start = tokens.index(special_id(tokenizer(), "[/INST]")) + 1
    end = tokens.index(special_id(tokenizer(), "</s>"), start) + 1
    events = coalesce(parse([decode_with_specials(tokenizer(), tokens[start:end])],
                            known_tools=["read_file", "ls"]))
    expected = []
    if assistant.thinking:
        expected.append(ThinkingDelta(assistant.thinking))
    if assistant.text:
        expected.append(TextDelta(assistant.text))
    for index, call in enumerate(assistant.tool_calls):
        expected.append(ToolCallEvent(index, call.name, call.arguments,
                                      json.dumps(call.arguments, ensure_ascii=False)))
    assert events == [*expected, EndOfTurn()]
