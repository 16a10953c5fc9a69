"""Running the ACP agent on this process's stdin and stdout.

Stdout belongs to the protocol alone: a stray print, a library's warning or a child
process writing to its inherited stdout would corrupt the JSON-RPC stream. So the real
stdout is kept on a private descriptor for the protocol, and descriptor 1 is pointed at
stderr (which editors log) before anything else runs. Tessera's own log goes to
`<data dir>/logs/acp.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

from agent.acp.server import AcpSettings, TesseraAgent

# Big enough for a prompt with images attached (the SDK's default stdio limit is 64 KB).
STREAM_LIMIT = 50 * 1024 * 1024


def serve(settings: AcpSettings, data_dir: Path) -> int:
    protocol_out = os.dup(1)
    os.dup2(2, 1)  # everything else that writes to stdout now lands on stderr
    sys.stdout = sys.stderr
    _log_to(data_dir / "logs" / "acp.log")
    asyncio.run(_serve(settings, data_dir, protocol_out))
    return 0


async def _serve(settings: AcpSettings, data_dir: Path, protocol_out: int) -> None:
    from acp import run_agent

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STREAM_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(protocol_out, "wb", buffering=0))
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    agent = TesseraAgent(settings, data_dir)
    try:
        await run_agent(agent, writer, reader)
    finally:
        await agent.close_all()  # the editor is gone: turns end `cancelled`, all stored
        with contextlib.suppress(Exception):
            transport.close()


def _log_to(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s "
                                           "%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
