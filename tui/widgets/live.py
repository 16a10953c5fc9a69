"""The live area: the step's reasoning and answer while they stream.

Fixed height, so a growing answer repaints only these lines and never re-lays out the
transcript above; it shows the tail of the stream, rendered as Markdown. When the step's
final events arrive, the text moves into the transcript in full and this area hides.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text
from textual.widget import Widget

from tui.records import TextRecord, ThinkingRecord

TAIL_CHARS = 3000  # enough for any visible tail; keeps each repaint's cost bounded


class Tail:
    """Render a renderable and keep only its last `height` lines."""

    def __init__(self, renderable: RenderableType, height: int) -> None:
        self.renderable = renderable
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.renderable, options.update(height=None), pad=False)
        for line in lines[-self.height :]:
            yield from line
            yield Segment.line()


def _tail_text(text: str) -> str:
    if len(text) <= TAIL_CHARS:
        return text
    cut = text[-TAIL_CHARS:]
    newline = cut.find("\n")
    tail = cut[newline + 1 :] if newline >= 0 else cut
    # An open code fence before the cut would otherwise render the code as prose.
    if text[: len(text) - len(tail)].count("```") % 2:
        tail = "```\n" + tail
    return tail


class LiveArea(Widget):
    DEFAULT_CSS = """
    LiveArea {
        height: 12;
        display: none;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.thinking: ThinkingRecord | None = None
        self.text: TextRecord | None = None

    def show_live(self, thinking: ThinkingRecord | None, text: TextRecord | None) -> None:
        self.thinking, self.text = thinking, text
        visible = thinking is not None or text is not None
        if visible != self.display:
            self.display = visible  # the only times this area changes the layout
        if visible:
            self.refresh()

    def render(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self.thinking is not None:
            if self.thinking.live:
                parts.append(Text("▼ thinking…", style="italic"))
                parts.append(Text(_tail_text(self.thinking.text), style="dim italic"))
            else:
                words = len(self.thinking.text.split())
                parts.append(Text(f"▶ thought ({words} words)", style="dim italic"))
        if self.text is not None:
            parts.append(Markdown(_tail_text(self.text.text) or " ", code_theme="monokai"))
        height = max(1, self.size.height)
        return Tail(Group(*parts), height)
