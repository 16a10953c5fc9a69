"""The setup screen in the real executable at 80x24 (tmux): finished with the keyboard
alone, and nothing it says is cut off."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import paths
from tests.tui.terminal import start_tessera
from tests.tui.test_onboarding import weights_dir

pytestmark = pytest.mark.slow


def test_setup_at_80x24_with_the_keyboard_alone(repo: Path, tmp_path: Path) -> None:
    weights = weights_dir(tmp_path / "w")
    with start_tessera(["chat", "--repo", str(repo)], width=80, height=24) as terminal:
        screen = terminal.wait_for("Use these weights")
        for shown in (
            "Set up a model",
            "1. Local weights directory",
            "2. Engine URL",
            "Test and use",
            "Nothing saved yet.",
            "Continue to chat",
            "^n Continue to chat",  # the footer names the continue key
        ):
            assert shown in screen, screen
        assert all(len(line) <= 80 for line in screen.splitlines())
        terminal.type(str(weights))  # the weights field has focus: no Tab first
        terminal.wait_for(str(weights)[-20:])  # the field scrolls a long path
        terminal.key("Enter")
        screen = terminal.wait_for("Press Enter (or ctrl+n)")
        assert "✓ found config.json and 1 safetensors file(s)" in screen, screen
        assert "saved to" in screen
        assert paths.user_config_file().is_file()
        terminal.key("Enter")  # Continue has focus once a choice is saved
        screen = terminal.wait_for("Message Tessera")
        assert "local · w" in screen  # the chat runs on the saved weights
