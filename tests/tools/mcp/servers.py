"""The real MCP servers the tests talk to, and where they live.

`mcp-server-time` and `mcp-server-git` (PyPI) live in a venv of their own, built by
scripts/env.sh `ensure_mcp_test_servers` (scripts/test calls it and exports
TESSERA_MCP_TEST_SERVERS; run here without it, the same function is called, which
builds the venv once and caches it): they pin their own `mcp`, which must not touch the
project's environment. sdk_server.py is a server built with the SDK's own server, run
over stdio or Streamable HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import prerequisite_missing
from tools.mcp.config import parse_server
from tools.mcp.hub import McpHub

ROOT = Path(__file__).resolve().parents[3]
SDK_SERVER = Path(__file__).with_name("sdk_server.py")
_bin: Path | None = None


def pypi_servers_bin() -> Path:
    """bin/ of the venv holding mcp-server-time and mcp-server-git."""
    global _bin
    if _bin is None:
        venv = os.environ.get("TESSERA_MCP_TEST_SERVERS")
        if not venv:
            built = subprocess.run(
                ["bash", "-c", "source scripts/env.sh && ensure_mcp_test_servers >&2 && "
                 "echo $TESSERA_MCP_TEST_SERVERS"],
                cwd=ROOT, capture_output=True, text=True, timeout=900)
            venv = built.stdout.strip() if built.returncode == 0 else ""
        _bin = Path(venv) / "bin" if venv else Path("/nonexistent")
    if not (_bin / "mcp-server-time").is_file() or not (_bin / "mcp-server-git").is_file():
        prerequisite_missing("the MCP test servers' venv (scripts/env.sh "
                             "ensure_mcp_test_servers) could not be built")
    return _bin


@contextmanager
def running_hub(tables: dict[str, dict], log_dir: Path) -> Iterator[McpHub]:
    """A hub over `tables` ({name: [mcp_servers.NAME] table}), every server started."""
    hub = McpHub([parse_server(name, table, "test") for name, table in tables.items()],
                 log_dir=log_dir)
    hub.start_all()
    hub.wait_started()
    try:
        yield hub
    finally:
        hub.close()


def sdk_stdio_table() -> dict:
    return {"command": sys.executable, "args": [str(SDK_SERVER), "stdio"]}


class HttpServer:
    """sdk_server.py over Streamable HTTP on a free local port, guarded by a token."""

    def __init__(self, token: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process = subprocess.Popen(
            [sys.executable, str(SDK_SERVER), "http", str(self.port), token],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the SDK's HTTP server did not start listening within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def children_of(pid: int) -> set[int]:
    """Live child processes of `pid` (from /proc), for 'children die with the session'."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found
