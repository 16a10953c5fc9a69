"""The MCP servers of one session: started in parallel in the background, called from
the agent's tool threads, stopped with the session.

The hub owns one thread running an asyncio loop on which every server connection lives
(tools/mcp/connection.py); its public methods are blocking and thread-safe, so a tool
(`McpTool.run`, which the agent runs in a worker thread) or a front end simply calls
them. Nothing starts until `start_all` or a first call, and a session without servers
never starts the thread. The children are stopped by `close` (the session's end) and, as
a last resort, at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.mcp.config import ServerConfig
from tools.mcp.connection import McpServerError, ServerConnection, ServerState
from tools.mcp.tool import tools_of


@dataclass(frozen=True)
class ServerStatus:
    """What `/mcp` and `tessera mcp list` show of a server: never a secret."""

    name: str
    transport: str
    target: str
    state: str
    source: str
    tools: list[str] = field(default_factory=list)  # as the model sees them
    problems: list[str] = field(default_factory=list)  # tools left out, schemas loosened
    error: str | None = None
    log: str | None = None


class McpHub:
    def __init__(self, configs: list[ServerConfig], *, log_dir: Path | None = None) -> None:
        self.version = 0  # goes up whenever a server's state or tools change
        self._lock = threading.Lock()
        self.connections = {c.name: ServerConnection(c, log_dir, self._changed) for c in configs}
        self._log_dir = log_dir
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._tools_cache: tuple[int, list[Any]] | None = None
        self._pending: list[concurrent.futures.Future] = []  # start_all's starts

    # -- the loop thread -------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise McpServerError("the session's MCP servers were stopped")
            if self._loop is None:
                _quiet_sdk_logs(self._log_dir)
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever,
                                                name="mcp-servers", daemon=True)
                self._thread.start()
                atexit.register(self.close)
            return self._loop

    def _submit(self, coro: Coroutine[Any, Any, Any]):
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    def _changed(self) -> None:
        self.version += 1  # tools() builds its list again

    # -- starting --------------------------------------------------------------------------

    def start_all(self) -> None:
        """Start every enabled server that is not ready, in parallel; returns at once."""
        for connection in self.connections.values():
            if connection.state in (ServerState.IDLE, ServerState.FAILED):
                self._pending.append(self._submit(self._quietly(connection.start())))

    @staticmethod
    async def _quietly(start: Coroutine[Any, Any, None]) -> None:
        with contextlib.suppress(McpServerError):  # kept as the connection's state and
            await start  # error, shown by status()

    def wait_started(self, timeout: float | None = None) -> None:
        """Block until no server is starting (each is bounded by its startup_timeout)."""
        limit = max((c.config.startup_timeout for c in self.connections.values()), default=0)
        pending, self._pending = self._pending, []
        concurrent.futures.wait(pending, timeout if timeout is not None else limit + 10.0)

    def start(self, name: str) -> None:
        """Start (or restart) one server and wait for it; raises McpServerError."""
        connection = self._connection(name)
        self._submit(connection.start()).result()

    # -- using -----------------------------------------------------------------------------

    def call(self, server: str, tool: str,
             arguments: dict[str, Any]) -> concurrent.futures.Future:  # fmt: skip
        """The call, under way: its result is the server's CallToolResult (a server that
        failed is started again first), its exception McpServerError naming the server;
        cancelling it stops the call (the SDK tells the server)."""
        connection = self._connection(server)
        return self._submit(connection.call(tool, arguments))

    def tools(self) -> list[Any]:
        """The McpTools the model sees now (the same list object until something changes)."""
        version = self.version
        cached = self._tools_cache
        if cached is not None and cached[0] == version:
            return cached[1]
        tools: list[Any] = []
        for connection in self.connections.values():
            tools.extend(tools_of(self, connection.config, connection.listed)[0])
        self._tools_cache = (version, tools)
        return tools

    def status(self) -> list[ServerStatus]:
        statuses = []
        for connection in self.connections.values():
            config = connection.config
            tools, problems = tools_of(self, config, connection.listed)
            log = connection.log_path()
            statuses.append(ServerStatus(
                name=config.name, transport=config.transport, target=config.target(),
                state=str(connection.state), source=config.source,
                tools=[t.name for t in tools], problems=problems, error=connection.error,
                log=str(log) if log and config.transport == "stdio" else None,
            ))
        return statuses

    def _connection(self, name: str) -> ServerConnection:
        if name not in self.connections:
            raise McpServerError(f"no MCP server named {name!r} is configured")
        return self.connections[name]

    # -- stopping --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every server and the loop thread; the hub cannot be used afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        stops = [c.stop() for c in self.connections.values()]
        future = asyncio.run_coroutine_threadsafe(_gather(stops), loop)
        with contextlib.suppress(Exception):  # the loop stops anyway; the SDK has
            future.result(timeout=15.0)  # already killed what it could
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5.0)
        atexit.unregister(self.close)


async def _gather(coros: list[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*coros, return_exceptions=True)


def _quiet_sdk_logs(log_dir: Path | None) -> None:
    """The SDK logs a server's bad lines with tracebacks: into a file (or nowhere), never
    onto the terminal under the TUI. Our own errors already say what went wrong."""
    sdk = logging.getLogger("mcp")
    if sdk.handlers:
        return
    sdk.propagate = False
    if log_dir is None:
        sdk.addHandler(logging.NullHandler())
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / "mcp-sdk.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    sdk.addHandler(handler)
