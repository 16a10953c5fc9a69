"""`/init` and `tessera init`: the model studies the repository with read-only tools and
writes AGENTS.md (build, test, layout, conventions), shown as a diff for approval.

An init session is a session like any other, with its own profile: the read-only tools
plus `write_agents_md` (tools/agents_file.py, which can write nothing else), and the
`ask` policy whatever the user's is, so the file is written only once someone has seen
its diff and said yes.
"""

from __future__ import annotations

from agent.session_driver import Profile
from tools.agents_file import AGENTS_FILE, WriteAgentsFile
from tools.base import SideEffect, Tool

INIT_TASK = (
    f"Study this repository and write its {AGENTS_FILE}: the instructions a coding agent "
    "(or a new colleague) needs before changing anything here."
)

INIT_INSTRUCTIONS = f"""# This session: write {AGENTS_FILE}
Explore with the read-only tools first: the README, the build and packaging files
(pyproject.toml, package.json, Makefile, Cargo.toml, go.mod, ...), CI configuration, the
test folders and a few representative source files. Then call `write_agents_md` once with
the whole file. If an {AGENTS_FILE} exists, read it and keep what is still true.

Write short, checkable Markdown with these sections:
- Build: how to install dependencies and build, as exact commands.
- Test: how to run all tests and a single test, as exact commands.
- Layout: the top-level folders and what lives in each.
- Conventions: code style, naming, linters and formatters, commit or review rules
  that the repository actually shows.
State only what you found in the repository; say so where something is unclear. The user
sees the diff and approves it; afterwards, answer with a one-paragraph summary."""


def init_tools(tools: list[Tool]) -> list[Tool]:
    return [*(t for t in tools if t.side_effect is SideEffect.READ), WriteAgentsFile()]


INIT = Profile("init", tools=init_tools, approval="ask", instructions=INIT_INSTRUCTIONS)
