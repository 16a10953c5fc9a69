"""`tessera acp`: Tessera as an Agent Client Protocol (v1) agent for editors.

The editor (Zed, a JetBrains IDE, Neovim) starts `tessera acp` and speaks JSON-RPC on
its stdin and stdout. Each ACP session is one Tessera session, driven through the same
SessionDriver as `tessera run` and the terminal UI: the client's cwd is the repository,
with the same configuration layers, trust rules, sandbox and approvals. Supported:
`initialize`, `session/new`, `session/load`, `session/prompt`, `session/cancel`,
`session/set_mode`; the agent sends `session/update` and `session/request_permission`,
and reads and writes files through `fs/read_text_file` / `fs/write_text_file` when the
client offers them. Shell commands stay in Tessera's sandbox, never the editor's
terminal, so the security model does not depend on the editor.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, RequestError
from acp import helpers as h
from acp.schema import (
    AgentCapabilities,
    ClientCapabilities,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
)

from agent.acp import updates as up
from agent.acp.client_files import ClientFiles
from agent.acp.prompt import PromptError, prompt_input
from agent.acp.session import AcpSession
from agent.session_driver import CODING, SessionOptions, SessionSetupError
from agent.sessions import new_session_id

log = logging.getLogger(__name__)

MODES = {
    "ask": ("Ask", "edits and commands ask first; reads run"),
    "auto-edit": ("Auto-edit", "edits run; commands ask first"),
    "auto": ("Auto", "everything runs (inside the sandbox)"),
    "read-only": ("Read-only", "only reads; edits and commands are refused"),
    "plan": ("Plan", "explore read-only and end with a plan to approve before anything changes"),
}

# Built-in slash commands an editor may offer, besides the custom ones (docs/commands.md).
COMMANDS = {
    "compact": "summarise older turns to free context",
}


def available_commands(repo: Path) -> dict[str, str]:
    """Built-in and custom commands (`~/.config/tessera/commands`, `.tessera/commands`)."""
    from agent.custom_commands import discover_commands

    custom, _ = discover_commands(repo)
    return {**COMMANDS, **{name: command.description or f"custom command ({command.path.name})"
                           for name, command in custom.items() if name not in COMMANDS}}


@dataclass
class AcpSettings:
    """What `tessera acp`'s own flags set for every session (None: the config's)."""

    backend: str | None = None
    approval: str | None = None
    effort: str | None = None
    repo_map_tokens: int = 1024
    context_limit: int | None = None  # None: the model's context (SessionOptions)
    db_path: Path | None = None


class TesseraAgent:
    """The ACP agent side; `acp.run_agent` routes each request here."""

    def __init__(self, settings: AcpSettings, data_dir: Path) -> None:
        self.settings, self.data_dir = settings, data_dir
        self.conn: Any = None
        self.client_capabilities = ClientCapabilities()
        self.sessions: dict[str, AcpSession] = {}

    def on_connect(self, conn: Any) -> None:
        self.conn = conn

    async def initialize(self, protocol_version: int,
                         client_capabilities: ClientCapabilities | None = None,
                         client_info: Implementation | None = None,
                         **_: Any) -> InitializeResponse:
        self.client_capabilities = client_capabilities or ClientCapabilities()
        log.info("client %s, protocol %s", client_info.name if client_info else "?",
                 protocol_version)
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(image=True, embedded_context=True),
            ),
            agent_info=Implementation(name="tessera", title="Tessera", version="0.1.0"),
            auth_methods=[],
        )

    # -- sessions ------------------------------------------------------------------------

    async def new_session(self, cwd: str, mcp_servers: list[Any] | None = None,
                          **_: Any) -> NewSessionResponse:
        session_id = new_session_id()
        session = self._open(session_id, cwd, resume=False)
        await asyncio.to_thread(self._prepare, session)
        self.sessions[session_id] = session
        session.post(up.available_commands(available_commands(session.repo)))
        session.warm_up()
        return NewSessionResponse(session_id=session_id, modes=self._modes(session))

    async def load_session(self, cwd: str, session_id: str,
                           mcp_servers: list[Any] | None = None,
                           **_: Any) -> LoadSessionResponse:
        if session_id in self.sessions:
            raise RequestError.invalid_params(
                {"sessionId": session_id, "reason": "the session is already open"})
        session = self._open(session_id, cwd, resume=True)
        events = await asyncio.to_thread(self._prepare, session)
        self.sessions[session_id] = session
        session.replay_history(events)
        session.post(up.available_commands(available_commands(session.repo)))
        await session.flush()  # the history arrives before the answer, as ACP asks
        return LoadSessionResponse(modes=self._modes(session))

    def _open(self, session_id: str, cwd: str, *, resume: bool) -> AcpSession:
        repo = Path(cwd)
        if not repo.is_absolute() or not repo.is_dir():
            raise RequestError.invalid_params(
                {"cwd": cwd, "reason": "cwd must be an absolute path to a directory"})
        s = self.settings
        options = SessionOptions(
            repo=repo, backend=s.backend, effort=s.effort, approval=s.approval,
            repo_map_tokens=s.repo_map_tokens, context_limit=s.context_limit,
            db_path=s.db_path, resume=session_id if resume else None,
        )
        fs = self.client_capabilities.fs
        can_read, can_write = bool(fs and fs.read_text_file), bool(fs and fs.write_text_file)
        editor = (ClientFiles(self.conn, session_id, asyncio.get_running_loop(),
                              can_read=can_read, can_write=can_write)
                  if can_read or can_write else None)
        return AcpSession(self.conn, session_id, options, editor=editor, resume=resume)

    def _prepare(self, session: AcpSession) -> list[Any]:
        """Build the session now (a bad repository or backend is an error of this
        request, not of a later prompt); the stored events of a loaded one."""
        try:
            events = session.driver.open()
            session.driver.prepare()
        except SessionSetupError as exc:
            session.driver.close()
            raise RequestError.invalid_params({"reason": str(exc)}) from exc
        return events

    def _modes(self, session: AcpSession) -> SessionModeState:
        loop = session.driver.loop
        current = loop.settings.approval.mode if loop else "ask"
        if session.plan_mode:
            current = "plan"
        return SessionModeState(
            current_mode_id=current,
            available_modes=[SessionMode(id=mode, name=name, description=text)
                             for mode, (name, text) in MODES.items()],
        )

    def _session(self, session_id: str) -> AcpSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise RequestError.invalid_params(
                {"sessionId": session_id,
                 "reason": "no such session here: create it (session/new) or load it"})
        return session

    async def set_session_mode(self, session_id: str, mode_id: str,
                               **_: Any) -> SetSessionModeResponse:
        session = self._session(session_id)
        if mode_id not in MODES:
            raise RequestError.invalid_params(
                {"modeId": mode_id, "reason": f"modes are {', '.join(MODES)}"})
        if session.busy:
            raise RequestError.invalid_params(
                {"sessionId": session_id, "reason": "wait for the prompt to end (or cancel it)"})
        if mode_id == "plan":
            session.plan_mode = True
        else:
            session.plan_mode = False
            if session.driver.profile.name == "plan":
                session.driver.set_profile(CODING)
            session.driver.set_approval(mode_id)
        session.post(h.update_current_mode(mode_id))
        await session.flush()
        return SetSessionModeResponse()

    # -- turns ---------------------------------------------------------------------------

    async def prompt(self, session_id: str, prompt: list[Any], **_: Any) -> PromptResponse:
        session = self._session(session_id)
        if session.busy:
            raise RequestError.invalid_params(
                {"sessionId": session_id, "reason": "a prompt is already running"})
        try:
            text, images = await asyncio.to_thread(prompt_input, prompt, self.data_dir)
        except PromptError as exc:
            raise RequestError.invalid_params({"reason": str(exc)}) from exc
        if text.strip() == "/compact":
            return await self._compact(session)
        text = await self._expand_command(session, text)
        if text is None:
            return PromptResponse(stop_reason="end_turn")
        try:
            stop_reason = await session.prompt(text, images)
        except SessionSetupError as exc:
            raise RequestError.internal_error({"reason": str(exc)}) from exc
        return PromptResponse(stop_reason=stop_reason)  # type: ignore[arg-type]

    async def _expand_command(self, session: AcpSession, text: str) -> str | None:
        """A `/NAME args` prompt as its custom command's prompt (and effort, kept for the
        session as the terminal UI does); None when it names no command, which the editor
        is told."""
        from agent.custom_commands import CommandError, expand_invocation

        try:
            expanded = await asyncio.to_thread(expand_invocation, session.repo, text)
        except CommandError as exc:
            session.post(h.update_agent_message_text(str(exc)))
            await session.flush()
            return None
        if expanded is None:
            return text
        if expanded.command.effort:
            session.driver.set_effort(expanded.command.effort)
        return expanded.prompt

    async def _compact(self, session: AcpSession) -> PromptResponse:
        from agent.backend import BackendError
        from agent.compaction import CompactionError, NothingToCompact

        try:
            done = await session.driver.compact()
            note = f"Compacted: {done.dropped} older messages summarised."
        except (NothingToCompact, CompactionError, SessionSetupError, BackendError) as exc:
            note = f"Nothing compacted: {exc}"
        session.post(h.update_agent_message_text(note))
        await session.flush()
        return PromptResponse(stop_reason="end_turn")

    async def cancel(self, session_id: str, **_: Any) -> None:
        session = self.sessions.get(session_id)
        if session is not None:  # a notification: nothing to answer for an unknown id
            session.cancel()

    async def close_all(self) -> None:
        """The editor went away: every turn still running ends `cancelled`, stored."""
        for session in list(self.sessions.values()):
            await session.close()
        self.sessions.clear()
