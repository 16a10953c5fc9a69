"""What MCP servers add to a session's start: none vs 3 stdio servers (mcp-server-time,
mcp-server-git, and a server built with the SDK's own server), run side by side.

    python -m bench.mcp_startup [--runs N] [--servers-bin DIR]

For each case a fresh SessionDriver runs a replayed one-turn session ("Done.") in a
scratch home and repository:
- `open`: the driver is made and its servers started, as the chat does when it opens
  (what stands between launching and the first keystroke);
- `first turn`: from making the driver to the turn's finish, the servers started at the
  same moment (the worst case: a task given on the command line, `tessera run`);
- `typed turn`: the turn's own time when the servers were started at open and were up
  before the message was sent (the chat's usual case);
- `close`: stopping the session, its servers with it.
The servers' venv: --servers-bin, else $TESSERA_MCP_TEST_SERVERS/bin, else scripts/env.sh
`ensure_mcp_test_servers` builds it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def servers_bin(given: str | None) -> Path:
    if given:
        return Path(given)
    venv = os.environ.get("TESSERA_MCP_TEST_SERVERS") or subprocess.run(
        ["bash", "-c", "source scripts/env.sh && ensure_mcp_test_servers >&2 && "
         "echo $TESSERA_MCP_TEST_SERVERS"], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout.strip()
    return Path(venv) / "bin"


def write_config(home: Path, bin_dir: Path | None) -> None:
    config = home / "config" / "tessera" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    if bin_dir is None:
        config.write_text("")
        return
    sdk = ROOT / "tests" / "tools" / "mcp" / "sdk_server.py"
    servers = {"time": (str(bin_dir / "mcp-server-time"), []),
               "git": (str(bin_dir / "mcp-server-git"), []),
               "sdk": (sys.executable, [str(sdk), "stdio"])}
    config.write_text("".join(
        f"[mcp_servers.{name}]\ncommand = {json.dumps(command)}\nargs = {json.dumps(args)}\n"
        f"startup_timeout = 60\n\n" for name, (command, args) in servers.items()))


def one_session(home: Path, repo: Path, replay: Path, wait_before_send: bool) -> dict:
    from agent.session_driver import SessionDriver, SessionOptions

    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["TESSERA_HOME"] = str(home / "data")
    began = time.perf_counter()
    driver = SessionDriver(SessionOptions(repo, backend=f"replay:{replay}", approval="auto",
                                          repo_map_tokens=0))
    driver.start_mcp_servers()
    opened = time.perf_counter()
    if wait_before_send and driver.mcp is not None:
        driver.mcp.wait_started()
    sent = time.perf_counter()
    finish = asyncio.run(driver.start("say done"))
    done = time.perf_counter()
    assert finish.status == "done", finish
    if driver.mcp is not None:
        assert all(s.state == "ready" for s in driver.mcp.status()), driver.mcp.status()
    driver.close()
    closed = time.perf_counter()
    return {"open": opened - began, "first turn": done - began, "typed turn": done - sent,
            "close": closed - done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--servers-bin")
    args = parser.parse_args()
    bin_dir = servers_bin(args.servers_bin)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = root / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        replay = root / "replay.jsonl"
        replay.write_text(json.dumps({"raw": "Done."}) + "\n")
        homes = {"none": root / "none", "3 servers": root / "three"}
        write_config(homes["none"], None)
        write_config(homes["3 servers"], bin_dir)
        cases = [("none", False), ("3 servers", False), ("3 servers", True)]
        samples: dict[tuple[str, bool], list[dict]] = {case: [] for case in cases}
        for run in range(args.runs + 1):  # the first round warms caches (tokenizer, venvs)
            for name, wait in cases:
                result = one_session(homes[name], repo, replay, wait)
                if run:
                    samples[(name, wait)].append(result)

    def median(case: tuple[str, bool], key: str) -> float:
        return statistics.median(r[key] for r in samples[case]) * 1000

    print(f"{args.runs} runs each, interleaved; medians in ms")
    print(f"{'case':<34}{'open':>8}{'first turn':>12}{'typed turn':>12}{'close':>8}")
    for case in cases:
        label = case[0] + (" (up before the message)" if case[1] else "")
        print(f"{label:<34}{median(case, 'open'):8.1f}{median(case, 'first turn'):12.1f}"
              f"{median(case, 'typed turn'):12.1f}{median(case, 'close'):8.1f}")
    none, three, warm = cases
    print(f"added by 3 servers: open {median(three, 'open') - median(none, 'open'):+.1f} ms; "
          f"first turn {median(three, 'first turn') - median(none, 'first turn'):+.1f} ms "
          f"(servers started with the task); a typed turn once they are up "
          f"{median(warm, 'typed turn') - median(none, 'typed turn'):+.1f} ms")


if __name__ == "__main__":
    main()
