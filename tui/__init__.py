"""The Textual terminal UI: renders agent events and sends user intents back."""
