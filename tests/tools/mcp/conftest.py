from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import isolate_home
from tests.tools.mcp.servers import HttpServer, pypi_servers_bin

TOKEN = "test-token-5f1d2a"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate_home(tmp_path / "home", monkeypatch)


@pytest.fixture(scope="session")
def servers_bin() -> Path:
    return pypi_servers_bin()


@pytest.fixture(scope="module")
def http_server() -> Iterator[HttpServer]:
    server = HttpServer(TOKEN)
    yield server
    server.stop()
