"""`local`: our engine on this machine, started on demand and shared between clients.

The first turn connects to the running engine (`tessera engine start`), or starts one from
the configured `backend.model_dir` and waits for it. Tool-call arguments are constrained to
each tool's JSON schema by the engine's structured outputs (the tools are sent as strict).
When the engine cannot be reached or cuts a stream, the error says whether its process died.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.backend import BackendError, ChatRequest, Delta
from agent.backends.errors import EngineDied
from agent.backends.openai import OpenAIBackend

if TYPE_CHECKING:
    from model.vllm_plugin.counter import MoeServing


class LocalBackend:
    def __init__(self, data_dir: Path, model_dir: Path | None, *, strict_tools: bool = True,
                 progress: Callable[[str], None] | None = None,
                 start_timeout: float | None = None,
                 extra_body: dict[str, Any] | None = None) -> None:
        self.name = "local"
        self.data_dir = data_dir
        self.model_dir = model_dir
        self.strict_tools = strict_tools
        self.progress = progress
        self.start_timeout = start_timeout
        # Extra request fields for vLLM (sampling options such as `tool_choice`, `logit_bias`).
        self.extra_body = dict(extra_body or {})
        self._client: OpenAIBackend | None = None
        self._pid: int | None = None

    @classmethod
    def from_config(cls, progress: Callable[[str], None] | None = None) -> LocalBackend:
        from agent.config import load_config
        from agent.paths import data_dir

        configured = load_config().model_dir
        return cls(data_dir(), Path(configured) if configured else None, progress=progress)

    async def _connect(self) -> OpenAIBackend:
        if self._client is not None:
            return self._client
        from model.engine import EngineError, connect

        kwargs = {"timeout": self.start_timeout} if self.start_timeout else {}
        try:
            connection = await asyncio.to_thread(connect, self.data_dir, self.model_dir,
                                                 progress=self.progress, **kwargs)
        except EngineError as exc:
            raise BackendError(f"local engine: {exc}") from exc
        self._pid = connection.info.pid
        self._client = OpenAIBackend(
            connection.base_url, connection.api_key, connection.info.served_model_name,
            strict_tools=self.strict_tools, name="local", diagnose=self._diagnose,
            extra_body=self.extra_body,
            credentials_hint="the engine's key file changed; restart it with "
                             "`tessera engine stop` and `tessera engine start`",
        )
        return self._client

    def _diagnose(self) -> str | None:
        from model.engine.process import log_tail, process_alive
        from model.engine.state import EnginePaths

        if self._pid is None:
            return None
        # A killed engine drops its sockets a moment before it is seen dead: look twice.
        deadline = time.monotonic() + 2.0
        while process_alive(self._pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not process_alive(self._pid):
            self._client = None  # the next turn starts or finds a new engine
            tail = log_tail(EnginePaths.under(self.data_dir), 5)
            return (f"the local engine (pid {self._pid}) died; see `tessera engine logs`, "
                    f"start it again with `tessera engine start`. Last log lines:\n{tail}")
        return None

    @property
    def takes_thinking_budget(self) -> bool | None:
        """Our engine runs vLLM with a reasoning parser, which takes budgets; what the
        server actually answered wins once it has."""
        return None if self._client is None else self._client.takes_thinking_budget

    async def context_window(self) -> int | None:
        """The engine's `max_model_len` (connecting first: starting the engine when none
        runs, as the first turn would); None when it cannot be reached."""
        try:
            client = await self._connect()
        except BackendError:
            return None  # the turn says why, with the engine's log
        return await client.context_window()

    async def moe_serving(self) -> list[MoeServing]:
        """What the engine's plugin wrote after its self-check before serving (which runs
        before the engine answers, so it is known once connected); empty when the engine
        cannot be reached or no process of it ran our MoE plugin."""
        from model.engine.state import EnginePaths
        from model.vllm_plugin.counter import read_counts

        try:
            await self._connect()
        except BackendError:
            return []  # the turn says why
        counts = await asyncio.to_thread(read_counts, EnginePaths.under(self.data_dir).moe_stats)
        return counts.verdicts

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        client = await self._connect()
        try:
            async for delta in client.stream(request):
                yield delta
        except EngineDied:
            raise
        except BackendError as exc:
            if why := self._diagnose():
                raise EngineDied(why) from exc
            raise

    async def cancel(self) -> None:
        if self._client is not None:
            await self._client.cancel()
