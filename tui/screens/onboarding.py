"""First run: no model is configured. Explain the three ways to get one, write the
choice into the user config, test it where possible, then go on to the chat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Static

from agent import paths
from tui.onboarding import API_KEY_ENV, Check, check_engine, check_model_dir, write_user_settings
from tui.styles import STYLES

INTRO = """\
Welcome to Tessera. No model is configured yet; choose one of three ways to give it one.

  1. Local weights: a directory with the model's params.json/config.json and
     .safetensors files. Tessera starts its own engine on this machine's GPU.
  2. Engine URL: an OpenAI-compatible server already running (a Tessera engine, vLLM,
     llama.cpp), e.g. http://localhost:8000/v1.
  3. API key: a hosted OpenAI-compatible API (Mistral's by default). The key is read
     from the environment, {env} or MISTRAL_API_KEY, and is never
     written to disk: the key typed here only tests the connection.

The choice is saved in {config}; edit it there later, or override it once with
`tessera chat --backend SPEC`."""


class OnboardingScreen(Screen):
    CSS_PATH = STYLES / "onboarding.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", "Quit")]

    def __init__(self, on_done: Callable[[], object]) -> None:
        super().__init__()
        self.on_done = on_done
        self.result = Static("", id="onboarding-result")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="onboarding"):
            yield Static(Text("Set up a model", style="bold"), classes="title")
            yield Static(INTRO.format(env=API_KEY_ENV, config=paths.user_config_file()))
            with Vertical(classes="option"):
                yield Static("1. Local weights directory", classes="option-title")
                with Horizontal():
                    yield Input(placeholder="/models/mistral-small-4", id="model-dir")
                    yield Button("Use these weights", id="use-dir", variant="primary")
            with Vertical(classes="option"):
                yield Static("2. Engine URL", classes="option-title")
                with Horizontal():
                    yield Input(placeholder="http://localhost:8000/v1", id="engine-url")
                    yield Button("Test and use", id="use-url", variant="primary")
            with Vertical(classes="option"):
                yield Static("3. API (OpenAI-compatible)", classes="option-title")
                with Horizontal():
                    yield Input(value="https://api.mistral.ai/v1", id="api-url")
                    yield Input(
                        placeholder="API key (for the test only)", password=True, id="api-key"
                    )
                    yield Button("Test and use", id="use-api", variant="primary")
            yield self.result
            yield Button("Continue to chat", id="continue", disabled=True)

    def _report(self, check: Check, written: str | None = None) -> None:
        text = Text(
            ("✓ " if check.ok else "✗ ") + check.message, style="green" if check.ok else "bold red"
        )
        if written:
            text.append(f"\nsaved to {written}", style="")
        self.result.update(text)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button == "continue":
            self.on_done()
            return
        if button == "use-dir":
            raw = self.query_one("#model-dir", Input).value.strip()
            check = check_model_dir(raw) if raw else Check(False, "type a directory first")
            settings = {"backend.spec": "local", "backend.model_dir": raw}
        elif button == "use-url":
            url = self.query_one("#engine-url", Input).value.strip()
            self.result.update("testing the connection…")
            check = await asyncio.to_thread(check_engine, url)
            settings = {"backend.spec": f"openai:{url}"}
        elif button == "use-api":
            url = self.query_one("#api-url", Input).value.strip()
            key = self.query_one("#api-key", Input).value.strip() or None
            self.result.update("testing the connection…")
            check = await asyncio.to_thread(check_engine, url, key)
            settings = {"backend.spec": f"openai:{url}"}
            if check.ok:
                check = Check(True, check.message + f" — export {API_KEY_ENV}=… before chatting")
        else:
            return
        if not check.ok:
            self._report(check)
            return
        target = await asyncio.to_thread(write_user_settings, settings)
        self._report(check, str(target))
        self.query_one("#continue", Button).disabled = False
        self.query_one("#continue", Button).focus()
