"""Time from an editor's `session/prompt` to the first `session/update` it receives.

    python -m bench.acp_latency [--prompts N]

`tessera acp` runs as an editor starts it (a subprocess on stdio) on a replayed session
in a temporary git repository, spoken to by the `agent-client-protocol` package's own
client. Each prompt's reply is a short answer streamed by the replay backend. The first
prompt of a session may wait for the tokenizer, which `session/new` starts loading in
the background: it is printed apart, sent at once and sent after a pause (as a user
types), beside the median of the later prompts.
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
from typing import Any

from acp import PROTOCOL_VERSION, spawn_agent_process, text_block

ROOT = Path(__file__).resolve().parent.parent
TYPING_PAUSE_S = 3.0


class FirstUpdate:
    """A client that notes when the first update of each prompt arrives."""

    def __init__(self) -> None:
        self.sent = 0.0
        self.first: float | None = None

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        kind = getattr(update, "session_update", "")
        if self.first is None and kind != "available_commands_update":
            self.first = time.perf_counter()

    async def request_permission(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the benchmark's session asks nothing")


async def measure(prompts: int, repo: Path, replay: Path) -> tuple[list[float], float]:
    """Latencies of `prompts` prompts sent back to back on a new session, and of a first
    prompt sent to a second session after a pause, as a user types."""
    client = FirstUpdate()

    async def timed(conn: Any, sid: str, text: str) -> float:
        client.first, client.sent = None, time.perf_counter()
        await conn.prompt(session_id=sid, prompt=[text_block(text)])
        assert client.first is not None
        return client.first - client.sent

    async with spawn_agent_process(client, sys.executable, "-m", "agent", "acp", "--backend",
                                   f"replay:{replay}", "--repo-map-tokens", "0",
                                   cwd=ROOT, env=dict(os.environ)) as (conn, _):
        await conn.initialize(protocol_version=PROTOCOL_VERSION)
        sid = (await conn.new_session(cwd=str(repo), mcp_servers=[])).session_id
        latencies = [await timed(conn, sid, f"question {i}") for i in range(prompts)]
        typed = (await conn.new_session(cwd=str(repo), mcp_servers=[])).session_id
        await asyncio.sleep(TYPING_PAUSE_S)
        after_pause = await timed(conn, typed, "a question typed at leisure")
    return latencies, after_pause


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["XDG_CONFIG_HOME"] = str(home / "config")
        os.environ["TESSERA_HOME"] = str(home / "data")
        repo = home / "repo"
        repo.mkdir()
        (repo / "a.py").write_text("x = 1\n")
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        replay = home / "turns.jsonl"
        replay.write_text("".join(json.dumps({"raw": f"Answer number {i}, short."}) + "\n"
                                  for i in range(args.prompts + 1)))
        latencies, after_pause = asyncio.run(measure(args.prompts, repo, replay))
    rest = sorted(v * 1000 for v in latencies[1:])
    print(f"session/prompt -> first session/update, {args.prompts} prompts on a replayed session")
    print(f"  first prompt, sent right after session/new: {latencies[0] * 1000:8.1f} ms")
    print(f"  first prompt, sent {TYPING_PAUSE_S:.0f} s after session/new: "
          f"{after_pause * 1000:8.1f} ms")
    print(f"  later prompts: median {statistics.median(rest):6.1f} ms   min {rest[0]:6.1f}   "
          f"max {rest[-1]:6.1f}")


if __name__ == "__main__":
    main()
