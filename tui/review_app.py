"""The review screen on its own, for `tessera review` (interactive): no chat, no model.

from tui.review_app import run_review
run_review(Path("."), base="HEAD")
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from tui.screens.review import ReviewScreen
from tui.styles import STYLES


class ReviewApp(App):
    TITLE = "Tessera review"
    CSS_PATH = STYLES / "app.tcss"

    def __init__(self, repo: Path, base: str = "HEAD", backend: str | None = None) -> None:
        super().__init__()
        self.repo = repo
        self.base = base
        self.backend = backend  # set: m asks that backend (None for the config's) to review

    def on_mount(self) -> None:
        from tui.reviewing import ModelReviewer

        reviewer = ModelReviewer(self.repo, self.backend) if self.backend is not None else None
        self.push_screen(
            ReviewScreen(self.repo, self.base, reviewer=reviewer), callback=lambda _: self.exit()
        )


def run_review(repo: Path, base: str = "HEAD", backend: str | None = None) -> int:
    ReviewApp(repo, base, backend).run()
    return 0
