"""First run: no model is configured. Explain the three ways to get one, write the
choice into the user config, test it where possible, then go on to the chat.

Everything works from the keyboard: the first field has focus, Enter in a field runs
that field's action, and once a choice is saved the Continue button has focus (Enter)
and ctrl+n, shown in the footer, opens the chat from anywhere on the screen. The
result line and the Continue button stay below the scrolling form, so what a
check answered is visible in an 80x24 terminal whichever field has focus."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from agent import paths
from tui.onboarding import API_KEY_ENV, Check, check_engine, check_model_dir, write_user_settings
from tui.styles import STYLES

INTRO = (
    "No model is configured yet. Give Tessera one of the three below: type in a field "
    "and press Enter (Tab moves between fields). The choice is saved in {config}; edit "
    "it there later, or override it once with `tessera chat --backend SPEC`."
)
LOCAL_HELP = (
    "A directory with params.json or config.json and .safetensors files; Tessera "
    "starts its own engine on this machine's GPU."
)
URL_HELP = "An OpenAI-compatible server already running (a Tessera engine, vLLM, llama.cpp)."
API_HELP = (
    "A hosted OpenAI-compatible API (Mistral's by default). The key is read from "
    "{env} or MISTRAL_API_KEY and never written to disk; the key typed here only "
    "tests the connection."
)
WAITING = "Nothing saved yet."
CONTINUE_HINT = "Press Enter (or ctrl+n) to continue to chat."

# Enter in a field runs the action of the button in the field's row.
FIELD_ACTIONS = {
    "model-dir": "use-dir",
    "engine-url": "use-url",
    "api-url": "use-api",
    "api-key": "use-api",
}


class OnboardingScreen(Screen):
    CSS_PATH = STYLES / "onboarding.tcss"
    AUTO_FOCUS = "#model-dir"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "continue", "Continue to chat"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(self, on_done: Callable[[], object]) -> None:
        super().__init__()
        self.on_done = on_done
        self.result = Static(WAITING, id="onboarding-result")
        self.saved = False
        self.busy = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="onboarding"):
            yield Static(Text("Set up a model", style="bold"), classes="title")
            yield Static(INTRO.format(config=paths.user_config_file()), classes="intro")
            yield self._option(
                "1. Local weights directory",
                LOCAL_HELP,
                Input(placeholder="/models/mistral-small-4", id="model-dir", compact=True),
                Button("Use these weights", id="use-dir", variant="primary", compact=True),
            )
            yield self._option(
                "2. Engine URL",
                URL_HELP,
                Input(placeholder="http://localhost:8000/v1", id="engine-url", compact=True),
                Button("Test and use", id="use-url", variant="primary", compact=True),
            )
            yield self._option(
                "3. API (OpenAI-compatible)",
                API_HELP.format(env=API_KEY_ENV),
                Input(value="https://api.mistral.ai/v1", id="api-url", compact=True),
                Input(placeholder="API key (test only)", password=True, id="api-key",
                      compact=True),
                Button("Test and use", id="use-api", variant="primary", compact=True),
            )
        with Vertical(id="onboarding-status"):
            yield self.result
            yield Button("Continue to chat", id="continue", disabled=True, compact=True)
        yield Footer()

    @staticmethod
    def _option(title: str, help_text: str, *row: Input | Button) -> Vertical:
        box = Vertical(Static(help_text, classes="help"), Horizontal(*row), classes="option")
        box.border_title = title
        return box

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "continue":
            return True if self.saved else None  # None: shown in the footer, dimmed
        return True

    def action_continue(self) -> None:
        if self.saved:
            self.on_done()

    def _report(self, check: Check, written: str | None = None) -> None:
        text = Text(
            ("✓ " if check.ok else "✗ ") + check.message, style="green" if check.ok else "bold red"
        )
        if written:
            text.append(f"\nsaved to {written}. ", style="")
            text.append(CONTINUE_HINT, style="bold")
        self.result.update(text)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        action = FIELD_ACTIONS.get(event.input.id or "")
        if action:
            event.stop()
            await self._use(action)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "continue":
            self.action_continue()
        elif event.button.id:
            await self._use(event.button.id)

    async def _use(self, action: str) -> None:
        """Check the choice of one row and save it; one check at a time."""
        if self.busy:
            return
        self.busy = True
        try:
            await self._check_and_save(action)
        finally:
            self.busy = False

    async def _check_and_save(self, action: str) -> None:
        if action == "use-dir":
            raw = self.query_one("#model-dir", Input).value.strip()
            check = check_model_dir(raw) if raw else Check(False, "type a directory first")
            settings = {"backend.spec": "local", "backend.model_dir": raw}
        elif action == "use-url":
            url = self.query_one("#engine-url", Input).value.strip()
            self.result.update("testing the connection…")
            check = await asyncio.to_thread(check_engine, url)
            settings = {"backend.spec": f"openai:{url}"}
        elif action == "use-api":
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
        self.saved = True
        self.refresh_bindings()
        continue_button = self.query_one("#continue", Button)
        continue_button.disabled = False
        continue_button.focus()
