"""Background processes through the tools: start, read, ports, kill, end of session.

Checked from the host: the process table, the ports, the output the tools return.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.sandbox.conftest import (
    PYTHON,
    marker,
    processes_with,
    requires_session_network,
)
from tools.background_tools import BashKill, BashOutput, exit_notes
from tools.base import ToolContext
from tools.net_policy import NetworkPolicy
from tools.sandbox.background import MAX_PROCESSES
from tools.sandbox.policy import SandboxPolicy
from tools.sandbox.session import SessionSandbox
from tools.shell import Bash

pytestmark = requires_session_network()


@pytest.fixture
def ctx(repo: Path, policy: SandboxPolicy) -> Iterator[ToolContext]:
    session = SessionSandbox(repo, policy, NetworkPolicy.from_config("off", []))
    yield ToolContext(repo, sandbox=policy, session=session)
    session.close()


def _wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _start(ctx: ToolContext, command: str) -> dict:
    result = Bash().invoke({"command": command, "background": True}, ctx)
    assert result.ok, result.text
    return result.data


def test_start_returns_at_once_and_output_is_read_incrementally(ctx: ToolContext) -> None:
    began = time.monotonic()
    # printf: the words appear in the output, not in the command line the result repeats.
    command = "printf 'fi%s\\n' rst; sleep 1; printf 'sec%s\\n' ond; sleep 60"
    started = Bash().invoke({"command": command, "background": True}, ctx)
    assert time.monotonic() - began < 5
    assert started.data["status"] == "running" and started.data["id"] == 1
    assert _wait(lambda: b"second" in ctx.session.processes.get(1).log)
    first = BashOutput().invoke({"id": 1}, ctx)
    # What the start already showed (the first half second of output) is not shown again.
    assert (started.text + first.text).count("first") == 1 and "second" in first.text
    assert "running" in first.text
    again = BashOutput().invoke({"id": 1}, ctx)
    assert "first" not in again.text  # only what is new
    reread = BashOutput().invoke({"id": 1, "since": 0}, ctx)
    assert "first" in reread.text and reread.data["since"] == 0


def test_ports_are_listed_and_the_kill_takes_the_whole_tree(ctx: ToolContext) -> None:
    tag = marker()
    # A child of the shell, in its own session (setsid), serving on a port.
    _start(ctx, f"setsid {PYTHON} -m http.server 8123 --bind 127.0.0.1 --directory . "
                f"2>&1 & sleep 600 # {tag}")  # fmt: skip
    assert _wait(lambda: BashOutput().invoke({"id": 1}, ctx).data["ports"] == [8123])
    assert processes_with(tag)
    killed = BashKill().invoke({"id": 1}, ctx)
    assert killed.ok and "killed" in killed.text
    assert _wait(lambda: not processes_with(tag) and not processes_with("http.server 8123"))


def test_an_exit_is_reported_once(ctx: ToolContext) -> None:
    _start(ctx, "sleep 0.8; echo bye; exit 3")
    assert _wait(lambda: not ctx.session.processes.get(1).running)
    notes = exit_notes(ctx.session)
    assert len(notes) == 1 and "exited with code 3" in notes[0] and "bye" in notes[0]
    assert exit_notes(ctx.session) == []


def test_a_command_failing_at_once_says_so(ctx: ToolContext) -> None:
    result = Bash().invoke({"command": "echo oops >&2; exit 7", "background": True}, ctx)
    assert not result.ok
    assert "oops" in result.text and "exited with code 7" in result.text
    assert exit_notes(ctx.session) == []  # already told


def test_limits_apply_and_the_count_is_bounded(ctx: ToolContext) -> None:
    # The pids limit of the sandbox (64 in the battery's policy) holds a fork bomb here too.
    _start(ctx, "bomb() { bomb | bomb & }; bomb; sleep 60")
    time.sleep(2)
    pid = os.fork()  # the host can still fork
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    # The bomb holds the session's whole pids budget (shared by its processes): stop it.
    BashKill().invoke({"id": 1}, ctx)
    for _ in range(MAX_PROCESSES):
        _start(ctx, "sleep 60")
    too_many = Bash().invoke({"command": "sleep 60", "background": True}, ctx)
    assert not too_many.ok and "already run" in too_many.text


def test_session_close_leaves_nothing(repo: Path, policy: SandboxPolicy) -> None:
    tag = marker()
    session = SessionSandbox(repo, policy, NetworkPolicy.from_config("off", []))
    ctx = ToolContext(repo, sandbox=policy, session=session)
    _start(ctx, f"sleep 600 # {tag}")
    _start(ctx, f"nohup sleep 600 >/dev/null 2>&1 & sleep 600 # {tag}")
    assert processes_with(tag)
    session.close()
    assert _wait(lambda: not processes_with(tag))
    late = Bash().invoke({"command": "true", "background": True}, ctx)
    assert not late.ok and "session is over" in late.text


def test_without_a_session_background_is_refused(repo: Path, policy: SandboxPolicy) -> None:
    result = Bash().invoke({"command": "sleep 1", "background": True},
                           ToolContext(repo, sandbox=policy))  # fmt: skip
    assert not result.ok and "need a session" in result.text


def test_the_session_processes_share_one_pids_limit(ctx: ToolContext) -> None:
    if ctx.session.cgroup is None:
        pytest.skip("no pids cgroup on this machine")
    # 40 sleepers each: the first process fits in the battery's 64, the second cannot.
    spawn = (f"{PYTHON} -c \"import subprocess, time\n"
             "try:\n    kept = [subprocess.Popen(['sleep', '60']) for _ in range(40)]\n"
             "    print('spawned 40', flush=True)\n"
             "except OSError as exc:\n    print('refused:', exc, flush=True)\n"
             "time.sleep(60)\"")  # fmt: skip
    _start(ctx, spawn)
    assert _wait(lambda: b"spawned 40" in ctx.session.processes.get(1).log)
    _start(ctx, spawn)
    assert _wait(lambda: b"refused" in ctx.session.processes.get(2).log)
    second = BashOutput().invoke({"id": 2, "since": 0}, ctx)
    assert "Resource temporarily unavailable" in second.text
    assert int((ctx.session.cgroup.path / "pids.current").read_text()) <= 64
