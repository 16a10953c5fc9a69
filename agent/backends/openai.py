"""`openai:URL`: any OpenAI-compatible chat-completions server, streamed.

A remote vLLM, our own engine (through `local`), or the Mistral API (`MISTRAL_API_KEY`).
Failures before the first token are retried with exponential backoff (connection refused,
429, 5xx); once tokens have been streamed a failure ends the turn with a clear error, since
a retry would repeat output the user has already seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from agent.backend import BackendError, ChatRequest, Delta, FinishDelta
from agent.backends.errors import (
    BackendTimeout,
    BadCredentials,
    ContextTooLong,
    EngineDied,
    RequestRejected,
)
from agent.backends.wire import TurnAssembler, request_body

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_CONTEXT_WORDS = re.compile(
    r"maximum context length|context length|max_model_len|too many tokens|prompt is too long|"
    r"context window|longer than the maximum", re.IGNORECASE)


class _Retry(Exception):
    def __init__(self, error: BackendError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def _detail(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or error)[:500]
    return str(error)[:500]


def _rejects_budget(status: int, text: str) -> bool:
    """The server refused the request because of `thinking_token_budget` (an unknown
    field, or vLLM started without a reasoning parser)."""
    return status in (400, 422) and "thinking_token_budget" in text


class OpenAIBackend:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str | None = None,
        *,
        strict_tools: bool = False,
        connect_timeout: float = 10.0,
        first_token_timeout: float = 600.0,
        idle_timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
        name: str | None = None,
        extra_body: dict[str, Any] | None = None,
        diagnose: Callable[[], str | None] | None = None,
        credentials_hint: str = "set MISTRAL_API_KEY or TESSERA_OPENAI_API_KEY",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name or f"openai:{self.base_url}"
        self.api_key = api_key
        self.model = model
        self.strict_tools = strict_tools
        self.connect_timeout = connect_timeout
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = idle_timeout
        self.retries = retries
        self.backoff = backoff
        self.extra_body = dict(extra_body or {})
        # Called when the server cannot be reached or cuts a stream: says why, if it knows.
        self.diagnose = diagnose
        self.credentials_hint = credentials_hint
        self._cancel = asyncio.Event()
        self._window: int | None = None  # context_window(), once the server said
        # Whether the server takes `thinking_token_budget` (agent/backend.py
        # TakesThinkingBudget): None until a budgeted request answered, False for good once
        # the server rejected it.
        self.takes_thinking_budget: bool | None = None

    @classmethod
    def from_spec(cls, url: str) -> OpenAIBackend:
        """`openai:URL`: the key from TESSERA_OPENAI_API_KEY or MISTRAL_API_KEY, the model
        from TESSERA_OPENAI_MODEL (else the server's first listed model)."""
        key = os.environ.get("TESSERA_OPENAI_API_KEY") or os.environ.get("MISTRAL_API_KEY")
        return cls(url, key, os.environ.get("TESSERA_OPENAI_MODEL") or None)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _client(self) -> httpx.AsyncClient:
        # Read timeouts are enforced per token below; httpx's would also cut slow prefills.
        timeout = httpx.Timeout(connect=self.connect_timeout, read=None, write=30.0, pool=30.0)
        return httpx.AsyncClient(timeout=timeout, headers=self._headers())

    async def cancel(self) -> None:
        self._cancel.set()

    async def _models(self, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        """The server's `/models` entries (vLLM's carry `max_model_len`)."""
        response = await client.get(f"{self.base_url}/models")
        if response.status_code in (401, 403):
            raise self._credentials_error(response.status_code, response.text)
        if response.status_code != 200:
            raise RequestRejected(f"{self.base_url}/models answered {response.status_code}: "
                                  f"{_detail(response.text)}")
        return [m for m in response.json().get("data", []) if isinstance(m, dict)]

    async def _resolve_model(self, client: httpx.AsyncClient) -> str:
        if self.model:
            return self.model
        models = [m.get("id") for m in await self._models(client) if m.get("id")]
        if not models:
            raise RequestRejected(f"{self.base_url} lists no models; set TESSERA_OPENAI_MODEL")
        self.model = str(models[0])
        return self.model

    async def context_window(self) -> int | None:
        """The model's context as `/models` states it (vLLM: `max_model_len`; others:
        `max_context_length`, `context_length`); None when it does not say or cannot be
        asked (the turn then reports why)."""
        if self._window is not None:
            return self._window
        try:
            async with self._client() as client:
                models = await self._models(client)
        except (BackendError, httpx.HTTPError, ValueError):
            return None
        for entry in models:
            if self.model and entry.get("id") != self.model:
                continue
            for key in ("max_model_len", "max_context_length", "context_length"):
                if isinstance(entry.get(key), int) and entry[key] > 0:
                    self._window = int(entry[key])
                    return self._window
            break  # the model in use (or, unnamed, the first listed) did not say
        return None

    def _credentials_error(self, status: int, text: str) -> BadCredentials:
        state = "no API key was sent" if not self.api_key else "the API key was refused"
        return BadCredentials(f"{self.base_url} answered {status}: {state} "
                              f"({_detail(text)}); {self.credentials_hint}")

    def _unreachable(self, exc: Exception) -> EngineDied:
        why = self.diagnose() if self.diagnose else None
        return EngineDied(why or f"cannot reach {self.base_url}: {exc}")

    def _http_error(self, status: int, text: str, retry_after: str | None) -> BackendError:
        detail = _detail(text)
        if status in (401, 403):
            return self._credentials_error(status, text)
        if status in (400, 413, 422) and _CONTEXT_WORDS.search(detail):
            return ContextTooLong(f"the conversation does not fit the model's context: {detail}")
        if status in RETRY_STATUSES:
            wait = None
            with contextlib.suppress(TypeError, ValueError):
                wait = min(30.0, float(retry_after)) if retry_after else None
            raise _Retry(RequestRejected(f"{self.base_url} answered {status}: {detail}"), wait)
        return RequestRejected(f"{self.base_url} answered {status}: {detail}")

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        self._cancel = asyncio.Event()
        async with self._client() as client:
            last: BackendError | None = None
            last_wait: float | None = None  # the server's Retry-After, when it sent one
            for attempt in range(self.retries + 1):
                if attempt:
                    wait = (last_wait if last_wait is not None
                            else self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 4))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cancel.wait(), wait)
                if self._cancel.is_set():
                    yield FinishDelta("cancelled", "")
                    return
                try:
                    async for delta in self._attempt(client, request):
                        yield delta
                    return
                except _Retry as retry:
                    last, last_wait = retry.error, retry.wait
            assert last is not None
            raise type(last)(f"{last} (gave up after {self.retries + 1} attempts)")

    async def _attempt(self, client: httpx.AsyncClient, request: ChatRequest
                       ) -> AsyncIterator[Delta]:
        try:
            model = await self._resolve_model(client)
            while True:
                budgeted = (request.thinking_budget is not None
                            and self.takes_thinking_budget is not False)
                body = request_body(request, model, strict_tools=self.strict_tools,
                                    extra=self.extra_body, thinking_budget=budgeted)
                async with client.stream("POST", f"{self.base_url}/chat/completions",
                                         json=body) as response:
                    if response.status_code != 200:
                        text = (await response.aread()).decode("utf-8", "replace")
                        if budgeted and _rejects_budget(response.status_code, text):
                            # Once per backend: from now on the effort policy switches
                            # settings instead, and this turn goes again without a budget.
                            self.takes_thinking_budget = False
                            continue
                        raise self._http_error(response.status_code, text,
                                               response.headers.get("retry-after"))
                    if budgeted:
                        self.takes_thinking_budget = True
                    async for delta in self._read(response):
                        yield delta
                    return
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Retry(self._unreachable(exc)) from exc

    async def _read(self, response: httpx.Response) -> AsyncIterator[Delta]:
        assembler = TurnAssembler()
        done = False
        try:
            async for data in self._payloads(response, assembler.started):
                if data is None:  # cancelled
                    if assembler.usage:
                        yield assembler.usage
                    yield FinishDelta("cancelled", assembler.raw())
                    return
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise self._stream_error(chunk["error"])
                for delta in assembler.feed(chunk):
                    yield delta
        except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
            if not assembler.started():
                raise _Retry(self._unreachable(exc)) from exc
            raise self._cut_off(exc) from exc
        if not done:
            raise self._cut_off(None)
        if assembler.usage:
            yield assembler.usage
        yield FinishDelta(assembler.finish(), assembler.raw())

    def _stream_error(self, error: Any) -> BackendError:
        detail = _detail(json.dumps({"error": error}))
        if _CONTEXT_WORDS.search(detail):
            return ContextTooLong(f"the conversation does not fit the model's context: {detail}")
        return RequestRejected(f"{self.base_url} reported an error mid-stream: {detail}")

    def _cut_off(self, exc: Exception | None) -> EngineDied:
        why = self.diagnose() if self.diagnose else None
        suffix = f" ({exc})" if exc else ""
        return EngineDied(why or f"{self.base_url} closed the stream mid-turn{suffix}")

    async def _payloads(self, response: httpx.Response, started: Callable[[], bool]
                        ) -> AsyncIterator[str | None]:
        """SSE `data:` payloads; None once cancelled. Enforces the per-token timeouts."""
        lines = response.aiter_lines()
        cancelled = asyncio.ensure_future(self._cancel.wait())
        try:
            while True:
                following = asyncio.ensure_future(anext(lines))
                limit = self.idle_timeout if started() else self.first_token_timeout
                done, _ = await asyncio.wait({following, cancelled}, timeout=limit,
                                             return_when=asyncio.FIRST_COMPLETED)
                if cancelled in done or not done:
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration,
                                             httpx.HTTPError):
                        await following
                    if cancelled in done:
                        yield None
                        return
                    raise BackendTimeout(
                        f"{self.base_url} sent nothing for {limit:.0f} s "
                        f"({'mid-turn' if started() else 'before the first token'})")
                try:
                    line = following.result()
                except StopAsyncIteration:
                    return
                if line.startswith("data:"):
                    yield line[5:].strip()
        finally:
            cancelled.cancel()
