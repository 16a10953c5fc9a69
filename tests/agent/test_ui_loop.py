"""The loop that checks UI work, replayed: a background server, a screenshot of its page,
the image in the model's context, and nothing left running once the session is over."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from PIL import Image

from agent import events as ev
from tests.agent.conftest import of_type, run_session
from tests.tools.sandbox.conftest import processes_with, requires_session_network
from tools.screenshot import BROWSERS

pytestmark = [pytest.mark.slow, pytest.mark.require_program(*BROWSERS),
              *requires_session_network()]

# A red block: what the image shows is judged by its pixels (a browser error page has none).
PAGE = ("<!doctype html><title>fixture</title><body style='margin:0'>"
        "<div style='background:#f00;width:320px;height:200px'></div></body>\n")


def _call(name: str, **arguments: object) -> str:
    return f"[TOOL_CALLS]{name}[ARGS]{json.dumps(arguments)}"


def test_background_server_screenshot_reaches_the_model(repo: Path) -> None:
    site = f"site-{uuid.uuid4().hex[:12]}"  # names this session's server on the host's ps
    (repo / site).mkdir()
    (repo / site / "index.html").write_text(PAGE)
    serve = f"python3 -m http.server 8000 --bind 127.0.0.1 --directory {site}"
    turns = [
        _call("bash", command=serve, background=True),
        # The server may still be binding: wait for it from inside, on the shared loopback.
        _call("bash", command="for i in $(seq 50); do python3 -c \"import urllib.request as u; "
              "u.urlopen('http://127.0.0.1:8000/')\" 2>/dev/null && break; sleep 0.1; done"),
        _call("screenshot", target="http://127.0.0.1:8000/index.html", width=640, height=400),
        "The page renders its heading.",
    ]
    finish, events = run_session(repo, turns, task="check the page", approval="auto")
    assert finish.status == "done", finish.summary
    results = {r.name: r for r in of_type(events, ev.ToolResult)}
    started = next(r for r in of_type(events, ev.ToolResult) if r.name == "bash")
    assert started.ok, started.output
    assert "started background process 1" in started.output
    shot = results["screenshot"]
    assert shot.ok, shot.output
    assert not shot.data.get("failed"), shot.data
    image = shot.images[0]
    assert image["tokens"] > 0 and image["width"] == 640
    with Image.open(image["path"]) as png:
        data = png.convert("RGB").tobytes()
    pixels = zip(data[0::3], data[1::3], data[2::3], strict=True)
    red = sum(1 for r, g, b in pixels if r > 200 and g < 60 and b < 60)
    assert red >= 320 * 200 * 0.9
    # Gone once the session is: neither the sandbox (bwrap) nor the server inside it.
    bwrap_pid = started.data["pid"]
    assert not os.path.exists(f"/proc/{bwrap_pid}") or _zombie(bwrap_pid)
    assert processes_with(site) == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
