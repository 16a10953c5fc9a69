"""The allow-list proxy, from inside the sandbox: what a command reaches in each network mode.

Real commands (curl, Python's urllib) run through `run_command` in a session's sandbox;
the host-side test servers count what actually arrived.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.sandbox.conftest import PYTHON, requires_session_network
from tools.net_policy import NetworkPolicy
from tools.sandbox.policy import SandboxPolicy
from tools.sandbox.runner import CommandResult, run_command
from tools.sandbox.session import SessionSandbox

pytestmark = requires_session_network()


class CountingServer:
    """A host HTTP server on loopback that answers every GET with its own name."""

    def __init__(self, name: str) -> None:
        self.hits = 0
        server_self = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server_self.hits += 1
                body = f"hello from {name}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_a() -> Iterator[CountingServer]:
    server = CountingServer("A")
    yield server
    server.close()


@pytest.fixture
def server_b() -> Iterator[CountingServer]:
    server = CountingServer("B")
    yield server
    server.close()


@pytest.fixture
def sessions(repo: Path, policy: SandboxPolicy) -> Iterator[list[SessionSandbox]]:
    made: list[SessionSandbox] = []
    yield made
    for session in made:
        session.close()


def _session(sessions: list[SessionSandbox], repo: Path, policy: SandboxPolicy, mode: str,
             listed: list[str], resolver=None) -> SessionSandbox:  # fmt: skip
    session = SessionSandbox(repo, policy, NetworkPolicy.from_config(mode, listed),
                             resolver=resolver)  # fmt: skip
    sessions.append(session)
    return session


def _run(session: SessionSandbox, repo: Path, command: str | list[str]) -> CommandResult:
    return run_command(command, repo=repo, policy=session.command_policy())


def _urllib(url: str) -> list[str]:
    code = (
        "import sys, urllib.request, urllib.error\n"
        f"try:\n    print(urllib.request.urlopen({url!r}, timeout=10).read().decode())\n"
        "except urllib.error.HTTPError as e:\n    print('HTTP', e.code, e.read().decode())\n"
        "    sys.exit(3)\n"
        "except OSError as e:\n    print('FAILED', e)\n    sys.exit(4)\n"
    )
    return [PYTHON, "-c", code]


@pytest.mark.require_program("curl")
def test_listed_port_reached_through_the_proxy_other_port_refused(
    repo, policy, sessions, server_a, server_b
) -> None:
    session = _session(sessions, repo, policy, "allow-list", [f"127.0.0.1:{server_a.port}"])
    assert session.proxy is not None and session.proxy.running
    reached = _run(session, repo, ["curl", "-sS", "--max-time", "10",
                                   f"http://127.0.0.1:{server_a.port}/"])  # fmt: skip
    assert reached.exit_code == 0, reached.output
    assert "hello from A" in reached.output
    # urllib through the same variables, unchanged
    by_urllib = _run(session, repo, _urllib(f"http://127.0.0.1:{server_a.port}/"))
    assert "hello from A" in by_urllib.output, by_urllib.output
    assert server_a.hits == 2

    refused = _run(session, repo, ["curl", "-sS", "-f", "--max-time", "10",
                                   f"http://127.0.0.1:{server_b.port}/"])  # fmt: skip
    assert refused.exit_code != 0
    tunnel = _run(session, repo, _urllib(f"https://127.0.0.1:{server_b.port}/"))
    assert tunnel.exit_code != 0, tunnel.output
    assert server_b.hits == 0

    decisions = session.take_decisions()
    assert [(d.allowed, d.port) for d in decisions] == [
        (True, server_a.port), (True, server_a.port), (False, server_b.port),
        (False, server_b.port),
    ]  # fmt: skip
    assert decisions[0].entry == f"127.0.0.1:{server_a.port}"
    assert decisions[-1].method == "CONNECT"
    assert "not in sandbox.allow_domains" in decisions[-1].reason
    assert session.take_decisions() == []  # each reported once


def test_network_off_reaches_nothing(repo, policy, sessions, server_a) -> None:
    session = _session(sessions, repo, policy, "off", [])
    assert session.proxy is None
    result = _run(session, repo, _urllib(f"http://127.0.0.1:{server_a.port}/"))
    assert result.exit_code == 4, result.output
    env = _run(session, repo, "env")
    assert "proxy" not in env.output.lower()
    assert server_a.hits == 0


def test_a_listed_name_resolving_to_a_private_address_is_refused(
    repo, policy, sessions, server_a
) -> None:
    # The name is listed (by a wildcard), but its address is this machine's loopback and
    # 10.x: a rebinding or SSRF route, refused because no entry names the address itself.
    answers = {"app.example.org": ["127.0.0.1"], "db.example.org": ["10.1.2.3"]}
    session = _session(sessions, repo, policy, "allow-list", ["*.example.org"],
                       resolver=lambda host, port: answers[host])  # fmt: skip
    for host in answers:
        result = _run(session, repo, _urllib(f"http://{host}:{server_a.port}/"))
        assert result.exit_code == 3 and "HTTP 403" in result.output, result.output
    assert server_a.hits == 0
    decisions = session.take_decisions()
    assert [d.allowed for d in decisions] == [False, False]
    assert all("127.0.0.1" in d.reason or "10.1.2.3" in d.reason for d in decisions)


def test_background_server_reached_directly_not_through_the_proxy(repo, policy, sessions) -> None:
    session = _session(sessions, repo, policy, "allow-list", ["example.invalid"])
    (repo / "page.txt").write_text("served from the sandbox\n")
    process = session.processes.start(f"{PYTHON} -m http.server 8765 --bind 127.0.0.1",
                                      repo=repo, policy=session.command_policy())  # fmt: skip
    code = ("import time, urllib.request\nfor _ in range(100):\n    try:\n"
            "        print(urllib.request.urlopen('http://127.0.0.1:8765/page.txt').read()"
            ".decode()); break\n    except OSError:\n        time.sleep(0.1)\n")  # fmt: skip
    result = _run(session, repo, [PYTHON, "-c", code])
    assert "served from the sandbox" in result.output, result.output
    assert session.take_decisions() == []  # NO_PROXY: loopback is the session's own
    session.processes.kill(process.id)
    assert not process.running
