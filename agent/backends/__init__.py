"""Backends: `replay:FILE` (recorded output), `local` (our engine) and `openai:URL`.

The factory lives here, beside the implementations, so the protocol module
(agent/backend.py) imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.backend import Backend, BackendUnavailable


def make_backend(spec: str, *, progress: Callable[[str], None] | None = None) -> Backend:
    """Build a backend from its spec: `replay:FILE` (now), `local`, `openai:URL` (engine).
    `progress` gets lines about a slow start (the local engine loading), from any thread."""
    kind, _, rest = spec.partition(":")
    if kind == "replay":
        from agent.replay import ReplayBackend

        if not rest:
            raise BackendUnavailable("replay backend needs a file: --backend replay:FILE")
        return ReplayBackend.from_file(rest)
    if kind == "local":
        from agent.backends.local import LocalBackend

        return LocalBackend.from_config(progress=progress)
    if kind == "openai":
        from agent.backends.openai import OpenAIBackend

        if not rest.startswith(("http://", "https://")):
            raise BackendUnavailable("openai backend needs a URL: --backend openai:https://HOST/v1")
        return OpenAIBackend.from_spec(rest)
    raise BackendUnavailable(
        f"unknown backend spec {spec!r}; expected replay:FILE, local or openai:URL"
    )
