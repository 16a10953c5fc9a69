"""The OS sandbox around every command the agent runs."""
