"""First-run setup without Textual: is a model configured, write the user config, and
test a connection. The onboarding screen is a thin form over these."""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import paths
from agent.config import SETTINGS, Config
from tools.atomic import write_atomically

API_KEY_ENV = "TESSERA_OPENAI_API_KEY"  # or MISTRAL_API_KEY (agent/backends/openai.py)
MODEL_FILES = ("params.json", "config.json")


def needs_onboarding(config: Config, backend_flag: str | None, engine_running: bool) -> bool:
    """The default `local` backend with no weights directory and no engine running means
    nothing is set up."""
    return (
        backend_flag is None
        and config.backend == "local"
        and not config.model_dir
        and not engine_running
    )


def engine_running() -> bool:
    """Whether a local engine (`tessera engine start`) is running for this data dir."""
    try:
        from model.engine import engine_status

        return engine_status(paths.data_dir()).running
    except Exception:  # an unreadable engine state means no usable engine, not a crash
        return False


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def write_user_settings(updates: dict[str, Any], target: Path | None = None) -> Path:
    """Merge dotted settings (`backend.spec`, ...) into the user's config file, keeping
    every other setting. Values are checked with the config's own parsers first."""
    for key, value in updates.items():
        if key not in SETTINGS:
            raise ValueError(f"unknown setting {key!r}")
        SETTINGS[key][1](value)
    target = target or paths.user_config_file()
    current: dict[str, Any] = {}
    if target.is_file():
        with target.open("rb") as fh:
            current = _flatten(tomllib.load(fh))
    current.update(updates)
    tables: dict[str, list[str]] = {}
    for key, value in current.items():
        table, _, name = key.rpartition(".")
        tables.setdefault(table, []).append(f"{name} = {_toml_value(value)}")
    lines = ["# Tessera user configuration (written by the setup screen; edit freely)"]
    for table, entries in tables.items():
        lines += ["", f"[{table}]"] if table else [""]
        lines += entries
    write_atomically(target, ("\n".join(lines) + "\n").encode("utf-8"))
    return target


@dataclass(frozen=True)
class Check:
    ok: bool
    message: str


def check_model_dir(raw: str) -> Check:
    path = Path(raw).expanduser()
    if not path.is_dir():
        return Check(False, f"{path} is not a directory")
    found = [name for name in MODEL_FILES if (path / name).is_file()]
    if not found:
        return Check(False, f"{path} has neither {' nor '.join(MODEL_FILES)}: not model weights")
    weights = list(path.glob("*.safetensors"))
    if not weights:
        return Check(False, f"{path} has {found[0]} but no .safetensors files")
    return Check(True, f"found {found[0]} and {len(weights)} safetensors file(s) in {path}")


def check_engine(url: str, api_key: str | None = None, timeout: float = 4.0) -> Check:
    """GET {url}/models on an OpenAI-compatible server."""
    if not url.startswith(("http://", "https://")):
        return Check(False, "the URL must start with http:// or https://")
    request = urllib.request.Request(url.rstrip("/") + "/models")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read(1_000_000) or b"{}")
    except urllib.error.HTTPError as exc:
        hint = " (check the API key)" if exc.code in (401, 403) else ""
        return Check(False, f"{url} answered HTTP {exc.code}{hint}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(False, f"cannot reach {url}: {reason}")
    except json.JSONDecodeError:
        return Check(False, f"{url}/models did not answer JSON: not an OpenAI-compatible server")
    models = [m.get("id", "?") for m in body.get("data", []) if isinstance(m, dict)]
    listed = ", ".join(models[:3]) or "no models listed"
    return Check(True, f"connected to {url}: {listed}")
