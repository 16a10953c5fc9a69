"""`tessera engine start|status|stop|logs` and `tessera serve`: the shared vLLM engine.

    tessera engine start [MODEL_DIR] [vLLM options...]   detached, stays warm until stopped
    tessera engine status [--json]
    tessera engine stop
    tessera engine logs [-n N] [-f]
    tessera serve [MODEL_DIR] [vLLM options...]          the same in the foreground,
                                                         supervised (stopping it stops vLLM)

MODEL_DIR defaults to the configured `backend.model_dir`. Options after the model directory
go to vLLM unchanged (e.g. `--tensor-parallel-size 8`) and override Tessera's defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.engine import EngineSettings


def configure(parser: argparse.ArgumentParser, command_name: str) -> None:
    if command_name == "serve":
        _model_args(parser)
        parser.add_argument("--stop-timeout", type=float, default=15.0, metavar="S",
                            help="on SIGTERM/SIGINT, seconds the engine's processes get to "
                                 "stop before they are killed (default 15)")
        parser.add_argument("--join-timeout", type=float, default=900.0, metavar="S",
                            help="a multi-node leader gives up (status 1) when its followers "
                                 "have not joined within S seconds (default 900)")
        return
    sub = parser.add_subparsers(dest="action", required=True,
                                metavar="{start,status,stop,logs}")
    _model_args(sub.add_parser("start", help="start the engine in the background"))
    status = sub.add_parser("status", help="is it running, where, and the MoE plugin counter")
    status.add_argument("--json", action="store_true")
    sub.add_parser("stop", help="stop the engine")
    logs = sub.add_parser("logs", help="print the engine log")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true")


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", nargs="?", type=Path, default=None,
                        help="checkpoint directory (default: backend.model_dir)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default loopback; anything else is exposed)")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--max-model-len", type=int, default=None,
                        help="context length (default: the checkpoint's, at most 262144)")
    parser.add_argument("vllm_args", nargs=argparse.REMAINDER,
                        help="options passed to `vllm serve` as they are")


def run(args: argparse.Namespace) -> int:
    from agent.paths import data_dir
    from model.engine import EngineError

    try:
        if args.command == "serve":
            return _serve(args, data_dir())
        return {"start": _start, "status": _status, "stop": _stop, "logs": _logs}[args.action](
            args, data_dir())
    except (EngineError, FileNotFoundError, ValueError) as exc:
        print(f"tessera {args.command}: {exc}", file=sys.stderr)
        return 1


def _settings(args: argparse.Namespace) -> EngineSettings:
    from agent.config import load_config
    from model.engine import EngineSettings

    model_dir = args.model_dir
    if model_dir is None:
        configured = load_config().model_dir
        if not configured:
            raise ValueError("no MODEL_DIR given and backend.model_dir is not configured")
        model_dir = Path(configured)
    extra = [a for a in args.vllm_args if a != "--"]
    # Address and context given after MODEL_DIR are ours too: clients must learn the address.
    ours = {"--host": args.host, "--port": args.port, "--max-model-len": args.max_model_len}
    if hasattr(args, "stop_timeout"):  # serve
        ours["--stop-timeout"] = args.stop_timeout
        ours["--join-timeout"] = args.join_timeout
    rest: list[str] = []
    index = 0
    while index < len(extra):
        name, equals, value = extra[index].partition("=")
        if name in ours and (equals or index + 1 < len(extra)):
            ours[name] = value if equals else extra[index + 1]
            index += 1 if equals else 2
            continue
        rest.append(extra[index])
        index += 1
    port, context = ours["--port"], ours["--max-model-len"]
    if "--stop-timeout" in ours:  # serve's own, not vLLM's
        args.stop_timeout = float(ours["--stop-timeout"])
        args.join_timeout = float(ours["--join-timeout"])
    return EngineSettings(model_dir=model_dir, host=str(ours["--host"]), port=int(port or 0),
                          max_model_len=int(context) if context else None, extra_args=rest)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _start(args: argparse.Namespace, data: Path) -> int:
    from model.engine import start_engine

    begun = time.monotonic()
    info = start_engine(_settings(args), data, progress=_say)
    print(f"engine pid {info.pid} serving {info.model} at {info.base_url} "
          f"(ready in {time.monotonic() - begun:.0f} s)")
    return 0


def _serve(args: argparse.Namespace, data: Path) -> int:
    from model.engine import serve_foreground

    settings = _settings(args)  # reads --stop-timeout given after MODEL_DIR too
    return serve_foreground(settings, data, progress=_say, grace=args.stop_timeout,
                            join_timeout=args.join_timeout)


def _status(args: argparse.Namespace, data: Path) -> int:
    from model.engine import engine_status

    status = engine_status(data)
    if args.json:
        info = status.info
        print(json.dumps({
            "running": status.running, "healthy": status.healthy,
            "pid": info.pid if info and status.running else None,
            "base_url": info.base_url if info and status.running else None,
            "model": info.model if info and status.running else None,
            "moe_calls": status.moe_calls, "moe_by_path": status.moe_by_path,
            "moe_serving": status.moe_serving,
        }))
    else:
        print(status.describe())
    return 0 if status.running else 3


def _stop(args: argparse.Namespace, data: Path) -> int:
    from model.engine import stop_engine

    stopped = stop_engine(data)
    print(f"stopped engine pid {stopped.pid}" if stopped else "no engine was running")
    return 0


def _logs(args: argparse.Namespace, data: Path) -> int:
    from model.engine.process import log_tail
    from model.engine.state import EnginePaths

    paths = EnginePaths.under(data)
    if not paths.log.exists():
        print(f"no engine log at {paths.log}", file=sys.stderr)
        return 1
    print(log_tail(paths, args.lines))
    if args.follow:
        with open(paths.log, "rb") as handle:
            handle.seek(0, 2)
            try:
                while True:
                    chunk = handle.read()
                    if chunk:
                        sys.stdout.write(chunk.decode("utf-8", "replace"))
                        sys.stdout.flush()
                    else:
                        time.sleep(0.5)
            except KeyboardInterrupt:
                return 0
    return 0
