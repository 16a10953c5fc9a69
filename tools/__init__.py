"""What the agent acts through: the OS sandbox, file/shell/search tools, git safety.

Imports neither `agent` nor `tui`; front ends reach tools only through the agent.
"""
