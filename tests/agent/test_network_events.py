"""Allow-list mode in a replayed session: every connection through the proxy is an event."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import events as ev
from agent import paths
from tests.agent.conftest import of_type, run_session
from tests.support import call
from tests.tools.sandbox.conftest import requires_session_network

pytestmark = requires_session_network()


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"hello\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_each_connection_is_an_event_a_background_ones_too(repo: Path, server: int) -> None:
    config = paths.config_dir() / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[sandbox]\nnetwork = "allow-list"\n'
                      f'allow_domains = ["127.0.0.1:{server}"]\n')
    fetch = ("python3 -c \"import urllib.request as u; "
             "print(u.urlopen('http://127.0.0.1:{}/').read())\"")
    turns = [
        call("bash", command=fetch.format(server)),
        call("bash", command=fetch.format(server + 1)),
        # A background process's fetch, made while another call runs: told with its result.
        call("bash", command=f"sleep 1; {fetch.format(server)}", background=True),
        call("bash", command="sleep 2"),
        "Done.",
    ]
    finish, events = run_session(repo, turns, task="fetch", approval="auto")
    assert finish.status == "done", finish.summary
    network = of_type(events, ev.NetworkAccess)
    assert [(e.allowed, e.port) for e in network[:2]] == [(True, server), (False, server + 1)]
    assert network[0].entry == f"127.0.0.1:{server}" and network[0].step == 1
    assert "not in sandbox.allow_domains" in network[1].reason and network[1].step == 2
    assert [(e.allowed, e.port, e.step) for e in network[2:]] == [(True, server, 4)]
    # Each is emitted before the result of the call that ran meanwhile (or the finish).
    order = [type(e).__name__ for e in events]
    assert order.index("NetworkAccess") < order.index("ToolResult")
    assert order[-1] == "Finish"
