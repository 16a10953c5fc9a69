"""A small OpenAI-compatible chat-completions server on 127.0.0.1, for backend tests.

It speaks the real wire protocol: HTTP/1.1, bearer-token auth, `GET /health` (as vLLM's,
unguarded), `GET /v1/models`, and
`POST /v1/chat/completions` answered as server-sent events in chunked transfer encoding,
ending with `data: [DONE]`. Each request takes the next scripted `Reply` (the last one repeats);
a reply can fail with a status, cut the connection mid-stream, or stall. Requests are recorded
(headers and JSON body) for the tests to inspect.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    chunks: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # close the socket after this many chunks, without [DONE]
    stall_after: int | None = None  # stop sending after this many chunks, keep the socket
    chunk_delay: float = 0.0


def chunk(*, content: str | None = None, reasoning: str | None = None,
          tool_calls: list[dict[str, Any]] | None = None, finish: str | None = None,
          usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk` as vLLM sends it."""
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    body: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                            "model": "fake-model",
                            "choices": [] if usage else [{"index": 0, "delta": delta,
                                                          "finish_reason": finish}]}
    if usage:
        body["usage"] = usage
    return body


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


class FakeOpenAIServer:
    def __init__(self, api_key: str | None = "test-key", models: tuple[str, ...] = ("fake-model",)):
        self.api_key = api_key
        self.models = models
        self.max_model_len: int | None = None  # listed with each model, as vLLM does
        self.replies: list[Reply] = [Reply()]
        self.requests: list[Recorded] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._served = 0
        self.cut_connections = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            current = asyncio.current_task()
            handlers = [t for t in asyncio.all_tasks() if t is not current]
            for task in handlers:  # connections kept alive by the client
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, path, _ = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        body = json.loads(raw) if raw else None
        self.requests.append(Recorded(method, path, headers, body))
        if method == "GET" and path == "/health":  # vLLM's, outside the key's guard
            await self._json(writer, 200, {})
            return True
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            await self._json(writer, 401, {"error": {"message": "Unauthorized", "code": 401}})
            return True
        if method == "GET" and path == "/v1/models":
            await self._json(writer, 200, {"object": "list", "data": [
                {"id": m, "object": "model",
                 **({"max_model_len": self.max_model_len} if self.max_model_len else {})}
                for m in self.models]})
            return True
        if method == "POST" and path == "/v1/chat/completions":
            reply = self.replies[min(self._served, len(self.replies) - 1)]
            self._served += 1
            return await self._stream(reader, writer, reply)
        await self._json(writer, 404, {"error": {"message": f"no route {path}"}})
        return True

    async def _json(self, writer: asyncio.StreamWriter, status: int, payload: dict[str, Any],
                    extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status} X", "Content-Type: application/json",
                f"Content-Length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      reply: Reply) -> bool:
        if reply.status != 200:
            await self._json(writer, reply.status, reply.error_body or {"error": {}},
                             reply.headers)
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for number, event in enumerate(reply.chunks):
            if reply.cut_after is not None and number >= reply.cut_after:
                self.cut_connections += 1
                writer.transport.abort()
                return False
            if reply.stall_after is not None and number >= reply.stall_after:
                await reader.read()  # until the client hangs up
                return False
            await self._event(writer, json.dumps(event))
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
        await self._event(writer, "[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _event(self, writer: asyncio.StreamWriter, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        await writer.drain()
