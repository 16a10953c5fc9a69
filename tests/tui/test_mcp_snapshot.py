"""SVG snapshot of `/mcp`: a server that is ready, one that could not start, a disabled
one, and a repository's server left unstarted (untrusted). Refresh after an intended
change of the look with `pytest tests/tui/test_mcp_snapshot.py --snapshot-update`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent import paths
from tests.tools.mcp.servers import pypi_servers_bin
from tests.tui.scenes import SIZE, app_for, prepare

pytestmark = pytest.mark.require_module("pytest_textual_snapshot")  # the dev extra

USER_CONFIG = """
[mcp_servers.time]
command = "mcp-server-time"
args = ["--local-timezone", "UTC"]

[mcp_servers.broken]
command = "no-such-mcp-server"

[mcp_servers.old]
url = "https://mcp.example.test/mcp"
enabled = false
"""


async def _show_mcp(pilot) -> None:
    app = pilot.app
    await pilot.pause(0.2)
    for _ in range(400):  # the servers start in the background as the chat opens
        hub = app.chat.session.driver.mcp if app.chat is not None else None
        if hub is not None and all(s.state not in ("starting", "not started")
                                   for s in hub.status() if s.state != "disabled"):
            break
        await pilot.pause(0.05)
    await pilot.press(*"/mcp", "enter")
    await pilot.pause(0.4)


def test_mcp_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snap_compare) -> None:
    # The server is found on PATH, so the snapshot shows no machine's paths.
    monkeypatch.setenv("PATH", f"{pypi_servers_bin()}{os.pathsep}{os.environ['PATH']}")
    repo = prepare(tmp_path, monkeypatch.setenv)
    paths.user_config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.user_config_file().write_text(USER_CONFIG)
    project = paths.project_config_file(repo)
    project.parent.mkdir()
    project.write_text('[mcp_servers.repo-tool]\ncommand = "./tools/serve.sh"\n')
    assert snap_compare(app_for(repo, []), terminal_size=SIZE, run_before=_show_mcp)
