"""First run: when onboarding shows, writing the user config, connection tests
against a real local HTTP server, and the setup screen finished from the keyboard."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from textual.widgets import Button, Input

from agent import paths
from agent.config import Config, load_config
from tests.tui.conftest import isolated_sandbox
from tui.app import TesseraApp
from tui.onboarding import (
    check_engine,
    check_model_dir,
    engine_running,
    needs_onboarding,
    write_user_settings,
)
from tui.screens.chat import ChatScreen
from tui.screens.onboarding import OnboardingScreen
from tui.session import ChatOptions


class ModelsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/v1/models":
            self.send_error(404)
            return
        if self.headers.get("Authorization") == "Bearer wrong":
            self.send_error(401)
            return
        body = json.dumps({"data": [{"id": "mistral-small-4"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def engine_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ModelsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def setup_app(repo: Path) -> TesseraApp:
    return TesseraApp(ChatOptions(repo=repo), onboarding=True, sandbox_probe=isolated_sandbox)


def test_needs_onboarding_only_without_any_model() -> None:
    assert needs_onboarding(Config(), None, engine_running=False)
    assert not needs_onboarding(Config(), None, engine_running=True)
    assert not needs_onboarding(Config(), "replay:x", engine_running=False)
    assert not needs_onboarding(Config(model_dir="/m"), None, engine_running=False)
    assert not needs_onboarding(Config(backend="openai:http://h/v1"), None, False)
    assert not engine_running()  # a fresh data dir has no engine


def test_write_user_settings_merges_and_loads_back(isolated_home: Path) -> None:
    target = paths.user_config_file()
    target.parent.mkdir(parents=True)
    target.write_text('[approval]\npolicy = "auto-edit"\n[sandbox]\nmasked_paths = ["a", "b"]\n')
    write_user_settings({"backend.spec": "openai:http://h:8000/v1"})
    config = load_config()
    assert config.backend == "openai:http://h:8000/v1"
    assert config.approval == "auto-edit"
    assert config.masked_paths == ("a", "b")
    with pytest.raises(ValueError, match="unknown setting"):
        write_user_settings({"backend.key": "x"})
    with pytest.raises(ValueError):
        write_user_settings({"approval.policy": "yolo"})


def test_model_dir_check(tmp_path: Path) -> None:
    assert not check_model_dir(str(tmp_path / "missing")).ok
    assert "neither" in check_model_dir(str(tmp_path)).message
    (tmp_path / "params.json").write_text("{}")
    assert "no .safetensors" in check_model_dir(str(tmp_path)).message
    (tmp_path / "consolidated.safetensors").write_bytes(b"")
    assert check_model_dir(str(tmp_path)).ok


def test_engine_check_against_a_server(engine_url: str) -> None:
    ok = check_engine(engine_url)
    assert ok.ok and "mistral-small-4" in ok.message
    assert "check the API key" in check_engine(engine_url, api_key="wrong").message
    assert not check_engine("ftp://x").ok
    refused = check_engine("http://127.0.0.1:9/v1", timeout=1)
    assert not refused.ok and "cannot reach" in refused.message


def test_onboarding_screen_writes_the_config_and_opens_the_chat(
    repo: Path, engine_url: str
) -> None:
    async def scenario() -> None:
        app = setup_app(repo)
        async with app.run_test(size=(110, 50)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, OnboardingScreen)
            continue_button = app.screen.query_one("#continue", Button)
            assert continue_button.disabled
            app.screen.query_one("#engine-url", Input).value = "http://127.0.0.1:9/v1"
            await pilot.click("#use-url")
            await pilot.pause(1.5)
            assert "cannot reach" in str(app.screen.result.render())
            assert not paths.user_config_file().exists()
            app.screen.query_one("#engine-url", Input).value = engine_url
            await pilot.click("#use-url")
            await pilot.pause(0.5)
            assert "connected" in str(app.screen.result.render())
            assert load_config().backend == f"openai:{engine_url}"
            assert not continue_button.disabled
            await pilot.click("#continue")
            await pilot.pause()
            assert isinstance(app.screen, ChatScreen)

    asyncio.run(scenario())


def weights_dir(root: Path) -> Path:
    """What the setup screen accepts as local weights (check_model_dir): a model config
    and a .safetensors file; nothing loads them before the first message."""
    root.mkdir()
    (root / "config.json").write_text("{}")
    (root / "model.safetensors").write_bytes(b"")
    return root


def test_setup_is_finished_with_the_keyboard_alone(repo: Path, tmp_path: Path) -> None:
    weights = weights_dir(tmp_path / "weights")

    async def scenario() -> None:
        app = setup_app(repo)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, OnboardingScreen)
            assert app.focused is screen.query_one("#model-dir", Input)  # type at once
            await pilot.press("ctrl+n")  # nothing is saved: the continue key does nothing
            await pilot.pause()
            assert app.screen is screen
            await pilot.press(*str(tmp_path / "missing"), "enter")
            await pilot.pause()
            assert "is not a directory" in str(screen.result.render())
            screen.query_one("#model-dir", Input).value = ""
            await pilot.press(*str(weights), "enter")  # Enter in the field uses it
            await pilot.pause()
            assert "saved to" in str(screen.result.render())
            assert load_config().model_dir == str(weights)
            assert app.focused is screen.query_one("#continue", Button)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ChatScreen)

    asyncio.run(scenario())


def test_enter_in_the_url_field_tests_it_and_ctrl_n_continues(
    repo: Path, engine_url: str
) -> None:
    async def scenario() -> None:
        app = setup_app(repo)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("tab", "tab")  # past the weights field and its button
            assert app.focused is screen.query_one("#engine-url", Input)
            await pilot.press(*engine_url, "enter")
            for _ in range(50):  # the check runs in a thread
                if "saved to" in str(screen.result.render()):
                    break
                await pilot.pause(0.1)
            assert "connected" in str(screen.result.render())
            assert load_config().backend == f"openai:{engine_url}"
            await pilot.press("shift+tab")  # focus anywhere: ctrl+n still continues
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert isinstance(app.screen, ChatScreen)

    asyncio.run(scenario())
