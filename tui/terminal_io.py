"""What Tessera writes to the terminal itself, beside the screen Textual draws.

- Notifications: OSC 9 (iTerm2, WezTerm, kitty, Windows Terminal, foot) and OSC 777
  (rxvt, VTE terminals such as GNOME Terminal and Ghostty) become desktop notifications;
  the bell marks the tab or window. Inside tmux they are wrapped in tmux's DCS passthrough
  so they reach the terminal tmux runs in (tmux drops unknown OSC sequences otherwise).
- The scrollback of an inline app: finished entries are rendered to ANSI text and written
  above the app's live region, so the terminal owns them (its search, selection and
  history work on them) and they stay after Tessera exits.

Both write through Textual's driver, between frames, on the app's own loop.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType

if TYPE_CHECKING:
    from textual.app import App

NOTIFY_MODES = ("auto", "off")


@dataclass(frozen=True)
class TerminalPrefs:
    """`[tui]` in the config, or the flags: how Tessera shares the terminal."""

    inline: bool = False
    mouse: bool = True
    notify: str = "auto"


def notification_sequence(title: str, body: str, *, in_tmux: bool) -> str:
    """OSC 9 and OSC 777 for `body`, then the bell; wrapped for tmux when inside it."""
    clean = " ".join(f"{title}: {body}".split()).replace("\x1b", "").replace("\x07", "")
    osc9 = f"\x1b]9;{clean}\x07"
    osc777 = f"\x1b]777;notify;{_plain(title)};{_plain(body)}\x07"
    if in_tmux:
        # tmux's passthrough: DCS tmux; ESC doubled ... ST (needs allow-passthrough on).
        wrap = "\x1bPtmux;{}\x1b\\"
        osc9 = wrap.format(osc9.replace("\x1b", "\x1b\x1b"))
        osc777 = wrap.format(osc777.replace("\x1b", "\x1b\x1b"))
    return osc9 + osc777 + "\x07"


def _plain(text: str) -> str:
    return " ".join(text.split()).replace(";", ",").replace("\x1b", "").replace("\x07", "")


class Notifier:
    """Tells the person at the terminal that Tessera waits for them, if they are away.

    "auto" notifies only while the terminal reports it is not focused (Textual turns the
    terminal's focus reports into `app_focus`); a terminal that never reports focus
    counts as focused, so it is never disturbed. "off" never notifies.
    """

    def __init__(self, app: App, mode: str = "auto") -> None:
        if mode not in NOTIFY_MODES:
            raise ValueError(f"notify: expected one of {', '.join(NOTIFY_MODES)}; got {mode!r}")
        self.app = app
        self.mode = mode
        self.sent = 0

    def notify(self, body: str, title: str = "Tessera") -> bool:
        if self.mode == "off" or self.app.app_focus:
            return False
        driver = self.app._driver  # Textual has no public raw write; the driver is its path
        if driver is None:
            return False
        driver.write(notification_sequence(title, body, in_tmux=bool(os.environ.get("TMUX"))))
        driver.flush()
        self.sent += 1
        return True


def render_ansi(renderables: list[RenderableType], width: int) -> str:
    """Renderables as the terminal's own text: ANSI styles, one blank line after each."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=max(20, width),
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
        soft_wrap=False,
        emoji=False,
    )
    for renderable in renderables:
        console.print(renderable)
        console.print()
    return buffer.getvalue()


def write_above_inline(app: App, text: str) -> bool:
    """Write `text` (ending in a newline) where the inline app's region starts, so it
    scrolls up into the terminal's scrollback, and redraw the app below it.

    Textual draws an inline frame relative to where the last frame left the cursor
    (`_previous_cursor_position`); going back to the region's top-left, clearing down,
    and writing the text leaves the cursor at the region's new top, from where the next
    full frame is drawn."""
    driver = app._driver
    if driver is None or not app.is_inline:
        return False
    from textual.geometry import Offset
    from textual.screen import Screen

    y = app._previous_cursor_position.y
    up = f"\x1b[{y}A" if y > 0 else ""
    driver.write(f"{up}\r\x1b[J{text}")
    driver.flush()
    app._previous_cursor_position = Offset(0, 0)
    app._previous_inline_height = None
    screen = app.screen
    if isinstance(screen, Screen):
        screen.refresh(layout=True)
    return True
