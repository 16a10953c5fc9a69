"""One MCP server's connection, on the hub's event loop (tools/mcp/hub.py).

A connection is held by one task (`_hold`) from the transport's start to its end, since
the SDK's client must be entered and left in the same task. It starts when first needed,
lists the server's tools (every page), follows `tools/list_changed`, and ends when the
hub stops it, when the server goes away (a crash, a closed stream), or when the server
misbehaves. A failed or ended connection is started again by the next `start` (the next
use): a session outlives its servers' failures.

Every error names the server and is redacted of the config's secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from tools.mcp.config import ServerConfig, redact

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 2048


class McpServerError(Exception):
    """A server that could not be started or could not answer; the message names it."""


class ServerState(StrEnum):
    IDLE = "not started"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"  # started again on next use
    DISABLED = "disabled"  # enabled = false in the config


class ServerConnection:
    def __init__(self, config: ServerConfig, log_dir: Path | None,
                 on_change: Callable[[], None]) -> None:  # fmt: skip
        self.config = config
        self.state = ServerState.IDLE if config.enabled else ServerState.DISABLED
        self.error: str | None = None
        self.listed: list[Any] = []  # mcp.types.Tool, as the server last listed them
        self.protocol: str | None = None
        self._log_dir = log_dir
        self._on_change = on_change
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._starting: asyncio.Future | None = None
        self._ready: asyncio.Future | None = None
        self._stopping: set[asyncio.Future] = set()  # children still being stopped
        self._garbage: list[str] = []

    @property
    def name(self) -> str:
        return self.config.name

    def log_path(self) -> Path | None:
        return self._log_dir / f"mcp-{self.name}.log" if self._log_dir else None

    def _fail(self, message: str) -> McpServerError:
        text = redact(f"MCP server {self.name!r} {message}", self.config.secrets())
        tail = self._stderr_tail()
        if tail:
            text += f"\n(its stderr ends with:)\n{tail}"
        self.state, self.error = ServerState.FAILED, text
        self._on_change()
        return McpServerError(text)

    def _stderr_tail(self) -> str:
        path = self.log_path()
        if path is None or self.config.transport != "stdio":
            return ""
        try:
            with path.open("rb") as fh:
                fh.seek(max(0, path.stat().st_size - STDERR_TAIL_BYTES))
                tail = fh.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""
        return redact(tail, self.config.secrets())

    # -- starting --------------------------------------------------------------------------

    async def start(self) -> None:
        """Ready the server (start it, or again after a failure); raises McpServerError.
        Concurrent callers share one start."""
        if self.state is ServerState.DISABLED:
            raise McpServerError(f"MCP server {self.name!r} is disabled (enabled = false)")
        if self.state is ServerState.READY:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        starting = self._starting
        try:
            await asyncio.shield(starting)
        finally:
            if starting.done() and self._starting is starting:
                self._starting = None

    async def _start(self) -> None:
        await self.stop()  # what is left of a failed run
        self.state, self.error = ServerState.STARTING, None
        self._garbage = []
        self._on_change()
        ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self._ready, self._stop = ready, asyncio.Event()
        self._task = asyncio.ensure_future(self._hold(ready, self._stop))
        timeout = self.config.startup_timeout
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except TimeoutError:
            self._stop_later()
            raise self._fail(f"did not answer `initialize` and `tools/list` within {timeout:g} s "
                             "(startup_timeout)" + self._garbage_note()) from None
        except Exception as exc:
            self._stop_later()
            if isinstance(exc, McpServerError):
                raise
            raise self._fail(f"could not be started: {_describe(exc)}"
                             + self._garbage_note()) from exc
        self.state = ServerState.READY
        self._on_change()

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        config = self.config
        if config.url:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            async def note_refusal(response: httpx2.Response) -> None:
                # The SDK turns a 401 or 403 into a bare "error response": keep the status.
                if response.status_code >= 400:
                    self._garbage.append(f"HTTP {response.status_code} "
                                         f"{response.reason_phrase}".strip())
                    del self._garbage[:-3]

            http = httpx2.AsyncClient(headers=config.http_headers(),
                                      timeout=httpx2.Timeout(30.0, read=300.0),
                                      event_hooks={"response": [note_refusal]})
            stack.push_async_callback(http.aclose)
            return streamable_http_client(config.url, http_client=http)
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=config.command or "", args=list(config.args),
                                       env=config.child_env() or None, cwd=config.cwd)
        return stdio_client(params, errlog=self._errlog(stack))

    def _errlog(self, stack: contextlib.ExitStack | contextlib.AsyncExitStack) -> IO[str]:
        # A child's stderr must not reach the terminal (it would tear the TUI): a log file.
        path = self.log_path()
        if path is None:
            import os

            handle = open(os.devnull, "w")  # noqa: SIM115 - closed by the stack
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("w")
        stack.callback(handle.close)
        return handle

    async def _hold(self, ready: asyncio.Future, stop: asyncio.Event) -> None:
        from mcp import Client
        from mcp.types import Implementation

        try:
            async with contextlib.AsyncExitStack() as stack:
                client = Client(self._transport(stack), mode="auto", cache=None,
                                message_handler=self._on_message,
                                client_info=Implementation(name="tessera", version="0"))
                await stack.enter_async_context(client)
                self.protocol = client.protocol_version
                self.listed = await self._list_tools(client)
                self._client = client
                ready.set_result(None)
                listening = self._listen(client, stack)
                waiters = [asyncio.ensure_future(stop.wait())]
                if listening is not None:
                    waiters.append(listening)
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # the transport or the handshake failed
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
            elif not stop.is_set():
                self._fail(f"stopped answering: {_describe(exc)}")
        finally:
            self._client = None
        if ready.done() and not ready.cancelled() and not stop.is_set() \
                and self.state is ServerState.READY:
            self._fail("closed its connection (it exited or crashed); it is started again "
                       "on next use")

    def _listen(self, client: Any, stack: contextlib.AsyncExitStack) -> asyncio.Future | None:
        """Follow tools/list_changed on a 2026-07 connection (older ones send the plain
        notification, handled in _on_message). None: the server does not announce it."""
        from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost

        capability = getattr(client.server_capabilities, "tools", None)
        if not getattr(capability, "list_changed", False):
            return None

        async def follow() -> None:
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    async for _event in subscription:
                        await self._relist(client)
            except SubscriptionLost:
                return  # the connection is gone: _hold ends, the server counts as failed
            except ListenNotSupportedError:
                pass  # a 2025 connection: the notification path (_on_message) covers it
            except Exception as exc:  # a refused subscription is no reason to drop the server
                log.warning("MCP server %r: tools/list_changed not followed: %s", self.name, exc)
            await asyncio.Event().wait()  # held until stopped
        return asyncio.ensure_future(follow())

    async def _list_tools(self, client: Any) -> list[Any]:
        tools: list[Any] = []
        cursor: str | None = None
        for _ in range(100):  # a server whose cursor never ends must not hang us
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def _relist(self, client: Any) -> None:
        try:
            self.listed = await asyncio.wait_for(self._list_tools(client),
                                                 self.config.startup_timeout)
        except Exception as exc:  # keep the last list; the next call says if it is gone
            log.warning("MCP server %r: relisting its tools failed: %s", self.name, exc)
        self._on_change()

    async def _on_message(self, message: Any) -> None:
        from mcp.types import ToolListChangedNotification

        if isinstance(message, Exception):  # a line that is not JSON-RPC, say
            self._garbage.append(redact(_garbage(message), self.config.secrets()))
            del self._garbage[:-3]
            return
        inner = getattr(message, "root", message)
        if isinstance(inner, ToolListChangedNotification) and self._client is not None:
            relisting = asyncio.ensure_future(self._relist(self._client))
            self._stopping.add(relisting)  # kept referenced (and awaited by stop) till done
            relisting.add_done_callback(self._stopping.discard)

    def _garbage_note(self) -> str:
        if not self._garbage:
            return ""
        return "; what it sent that was not MCP: " + " | ".join(self._garbage)

    # -- calling and stopping --------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """The server's CallToolResult; raises McpServerError when the server cannot answer."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED
        from pydantic import ValidationError

        await self.start()
        client = self._client
        if client is None:
            raise self._fail("is not connected")
        timeout = self.config.tool_timeout
        try:
            return await asyncio.wait_for(client.call_tool(tool, arguments), timeout)
        except TimeoutError:
            raise McpServerError(redact(
                f"MCP server {self.name!r} did not answer the {tool} call within {timeout:g} s "
                f"(tool_timeout){self._garbage_note()}", self.config.secrets())) from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                await self.stop()
                raise self._fail(f"went away during the {tool} call (it exited or crashed); it "
                                 "is started again on next use") from exc
            raise McpServerError(redact(f"MCP server {self.name!r} refused the {tool} call: "
                                        f"{exc}", self.config.secrets())) from exc
        except ValidationError as exc:
            raise McpServerError(redact(
                f"MCP server {self.name!r} answered the {tool} call with something that is not "
                f"an MCP result: {_describe(exc)}", self.config.secrets())) from exc
        except (OSError, EOFError) as exc:
            await self.stop()
            raise self._fail(f"failed during the {tool} call: {_describe(exc)}") from exc

    def _stop_later(self) -> None:
        """Stop in the background: the failure is reported now, while the SDK gives the
        child its grace period; `stop` (the session's end) still waits for it."""
        stopping = asyncio.ensure_future(self._end(*self._take()))
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)

    def _take(self) -> tuple[asyncio.Task | None, asyncio.Event | None, asyncio.Future | None]:
        taken = self._task, self._stop, self._ready
        self._task = self._stop = self._ready = None
        return taken

    async def stop(self) -> None:
        """End the connection (the SDK closes stdin, then terminates the child's tree)."""
        await self._end(*self._take())
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
        if self.state in (ServerState.READY, ServerState.STARTING):
            self.state = ServerState.IDLE
            self._on_change()

    @staticmethod
    async def _end(task: asyncio.Task | None, stop: asyncio.Event | None,
                   ready: asyncio.Future | None) -> None:  # fmt: skip
        if stop is not None:
            stop.set()
        if task is None or task.done():
            return
        if ready is not None and ready.done():  # connected: it leaves when told to
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 8.0)
        if not task.done():  # still in the handshake, or stuck: cancelled
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _garbage(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        with contextlib.suppress(Exception):
            line = errors()[0].get("input")
            if isinstance(line, str | bytes):
                return repr(line[:120])
    return _describe(exc)[:200]
