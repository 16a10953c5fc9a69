"""Errors a session can show as they are: each says what happened and what to do."""

from __future__ import annotations

from agent.backend import BackendError


class EngineDied(BackendError):
    """The server went away: refused connections, or a stream cut off mid-turn."""


class ContextTooLong(BackendError):
    """The prompt plus the requested completion exceed the server's context."""


class BadCredentials(BackendError):
    """The server refused the API key."""


class BackendTimeout(BackendError):
    """No answer (or no new token) within the timeout, after the retries."""


class RequestRejected(BackendError):
    """The server refused the request for another reason (its message is included)."""
