"""Textual stylesheets (.tcss), one per screen."""

from pathlib import Path

STYLES = Path(__file__).parent
