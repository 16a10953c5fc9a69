"""The engine: vLLM's OpenAI-compatible server with our MoE plugin, kept warm and shared.

One engine per data directory. `start` launches it detached (it outlives the command that
started it, so every client — the TUI, headless runs — shares one warm engine until `stop`),
`serve` runs the same in the foreground, `status` reports health and the plugin's MoE call
counter. The data directory is a parameter: this package never imports `agent`.

Layout under ``<data_dir>/engine/``: ``engine.json`` (pid, address, model, command),
``api-key`` (mode 0600; clients send it as a bearer token), ``engine.log``, ``moe-stats/``.
"""

from model.engine.command import EngineSettings, build_command, engine_environment
from model.engine.process import (
    Connection,
    EngineError,
    EngineStatus,
    connect,
    engine_status,
    serve_foreground,
    start_engine,
    stop_engine,
)
from model.engine.state import EngineInfo, EnginePaths

__all__ = [
    "Connection",
    "EngineError",
    "EngineInfo",
    "EnginePaths",
    "EngineSettings",
    "EngineStatus",
    "build_command",
    "connect",
    "engine_environment",
    "engine_status",
    "serve_foreground",
    "start_engine",
    "stop_engine",
]
