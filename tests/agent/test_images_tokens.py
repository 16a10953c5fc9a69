"""Images in messages and token counts with the model's tokenizer.

A user's attached image and what view_image returns reach the request as mistral-common
image chunks (model/chat.py), are stored by content hash with the session, survive a
resume, and count in the context budget; the loop's counts agree with mistral-common's
encoding of the same request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from agent import events as ev
from agent.attachments import image_paths_in
from agent.backend import ChatRequest, Message, RequestToolCall
from agent.cli import main
from agent.replay import ReplayBackend, ReplayTurn
from agent.sessions import SessionStore, default_db_path
from agent.tokens import default_counter, load_model_tokenizer, to_conversation
from model.chat import encode
from tests.agent.conftest import of_type, run_session
from tests.support import call, write_replay
from tools.images import image_tokens
from tools.registry import tool_schemas


def png(path: Path, size: tuple[int, int], colour: str = "red") -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


class RecordingReplay(ReplayBackend):
    """The replay backend, keeping each request it was sent (to look at what the model saw)."""

    def __init__(self, turns: list[str]):
        super().__init__([ReplayTurn(raw, i) for i, raw in enumerate(turns, 1)])
        self.requests: list[ChatRequest] = []

    def stream(self, request: ChatRequest):  # type: ignore[override]
        self.requests.append(request)
        return super().stream(request)


def test_counts_match_mistral_common_encoding_with_images(tmp_path: Path) -> None:
    shot = png(tmp_path / "shot.png", (300, 120))
    plot = png(tmp_path / "plot.png", (64, 64), "blue")
    messages = [
        Message("user", "the button is misaligned, see the screenshot", images=[str(shot)],
                image_tokens=image_tokens(300, 120)),
        Message("assistant", "Let me look at the plot too.", thinking="Compare both images.",
                tool_calls=[RequestToolCall("s00001c00", "view_image", '{"path": "plot.png"}')]),
        Message("tool", "plot.png: PNG 64x64 px", tool_call_id="s00001c00", name="view_image",
                images=[str(plot)], image_tokens=image_tokens(64, 64)),
        Message("assistant", "Both seen."),
        Message("user", "now fix it"),
    ]
    request = ChatRequest("You are a coding agent.", messages, tool_schemas(), "high")
    encoded = encode(to_conversation(request), load_model_tokenizer())
    assert len(encoded.images) == 2  # both reached the vision encoder's input
    assert default_counter().request(request) == len(encoded.tokens)
    text_only = ChatRequest(request.system, [Message("user", "the button is misaligned")],
                            request.tools, "high")
    assert default_counter().request(request) - default_counter().request(text_only) > (
        image_tokens(300, 120) + image_tokens(64, 64))


def test_counts_follow_a_message_that_grows() -> None:
    counter = default_counter()
    message = Message("assistant", "Reading")
    before = counter.message(message)
    message.content += " the whole file now, then the tests, then the docs"
    assert counter.message(message) > before
    code = "def add(a, b):\n    return a + b\n"
    assert 0 < counter.text(code) < len(code) / 2  # BPE merges, not characters


def test_view_image_result_reaches_the_model_and_counts(repo: Path,
                                                         isolated_home: Path) -> None:
    from agent.session_driver import SessionDriver, SessionOptions

    png(repo / "ui.png", (200, 100))
    backend = RecordingReplay([call("view_image", path="ui.png"), "The button is red."])
    seen: list[ev.Event] = []
    driver = SessionDriver(SessionOptions(repo, approval="auto", repo_map_tokens=0),
                           backend=backend)
    driver.subscribe(seen.append)
    finish = asyncio.run(driver.start("what colour is the button in ui.png?"))
    driver.close()
    loop = driver.loop
    assert finish.status == "done" and loop is not None
    [result] = of_type(seen, ev.ToolResult)
    [image] = result.images
    stored = Path(image["path"])
    assert stored.parent == isolated_home / "data" / "images"
    assert stored.name == f"{image['sha256']}.png" and stored.is_file()
    assert image["tokens"] == image_tokens(200, 100)
    second = backend.requests[1]
    tool_turn = next(m for m in second.messages if m.role == "tool")
    assert tool_turn.images == [str(stored)] and tool_turn.image_tokens == image["tokens"]
    assert len(encode(to_conversation(second), load_model_tokenizer()).images) == 1
    assert loop.context_tokens == default_counter().context(
        loop.history.system, [t.schema() for t in loop.settings.tools], loop.history.messages)
    usages = of_type(seen, ev.Usage)
    assert usages[1].prompt_tokens - usages[0].prompt_tokens > image["tokens"]


def test_run_with_an_image_stores_it_and_resume_keeps_it(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = png(tmp_path / "bug.png", (90, 40))
    replay = write_replay(tmp_path / "t.jsonl", ["I see the bug."])
    code = main(["run", "what is wrong?", "--repo", str(repo), "--backend", f"replay:{replay}",
                 "--image", str(shot), "--json", "--repo-map-tokens", "0"])
    assert code == 0
    store = SessionStore(default_db_path())
    [info] = store.list()
    events = store.events(info.id)
    store.close()
    start = events[0]
    assert isinstance(start, ev.SessionStart)
    [image] = start.images
    assert Path(image["path"]).is_file() and image["width"] == 90
    capsys.readouterr()
    follow = write_replay(tmp_path / "f.jsonl", ["I see the bug.", "Still red."])
    code = main(["run", "and now?", "--resume", info.id, "--backend", f"replay:{follow}",
                 "--image", str(png(tmp_path / "after.png", (30, 30), "green")), "--json",
                 "--repo-map-tokens", "0"])
    assert code == 0
    printed = [ev.from_json(line) for line in capsys.readouterr().out.splitlines()]
    [message] = of_type(printed, ev.UserMessage)
    assert message.images[0]["width"] == 30
    code = main(["run", "x", "--repo", str(repo), "--backend", f"replay:{replay}",
                 "--image", str(repo / "calc.py"), "--repo-map-tokens", "0"])
    assert code == 1 and "--image" in capsys.readouterr().out
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert main(["replay", info.id, "--repo", str(fresh), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()  # a note says the follow-up is not replayed
    replayed = ev.from_json(next(line for line in lines if line.startswith("{")))
    assert isinstance(replayed, ev.SessionStart)
    assert [i["width"] for i in replayed.images] == [90]


def test_follow_up_with_images_through_the_loop_api(repo: Path, tmp_path: Path) -> None:
    from agent.attachments import attach

    finish, events = run_session(repo, ["Looked."], task="look")
    assert finish.status == "done"
    images = attach([png(tmp_path / "a.png", (50, 50))], tmp_path / "data")
    from agent.history import rebuild

    history = rebuild([*events, ev.UserMessage("and this one?", images=images)])
    assert history.messages[-1].images == [images[0]["path"]]
    assert history.messages[-1].image_tokens == image_tokens(50, 50)


def test_image_paths_typed_in_a_message(tmp_path: Path) -> None:
    png(tmp_path / "shot one.png", (4, 4))
    png(tmp_path / "b.PNG", (4, 4))
    (tmp_path / "notes.txt").write_text("x")
    text = 'compare "shot one.png" with b.PNG, (missing.png) and notes.txt'
    assert image_paths_in(text, tmp_path) == [(tmp_path / "shot one.png").resolve(),
                                               (tmp_path / "b.PNG").resolve()]


def test_an_image_counts_towards_compaction(repo: Path, tmp_path: Path) -> None:
    from agent.compaction import CompactionSettings
    from agent.loop import AgentLoop, LoopSettings
    from tools.base import ToolContext
    from tools.images import ViewImage

    png(repo / "big.png", (1540, 1540))  # 55 x 56 = 3080 image tokens, ~10 bytes of text
    backend = RecordingReplay([call("view_image", path="big.png"), "Summary: looked at it.",
                               "It is red."])
    seen: list[ev.Event] = []
    settings = LoopSettings(repo=repo, tools=[ViewImage()],
                            tool_context=ToolContext(repo, data_dir=tmp_path / "data"),
                            compaction=CompactionSettings(context_limit=3000))
    loop = AgentLoop(backend, settings, seen.append)
    finish = asyncio.run(loop.run(ev.SessionStart("s", "what colour?", str(repo), "replay",
                                                  "auto", "ask", "You are a coding agent.")))
    assert finish.status == "done"
    [compaction] = of_type(seen, ev.Compaction)
    assert compaction.context_tokens > image_tokens(1540, 1540)
