"""Start, find, check and stop the engine process."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from model.engine.command import (
    SERVED_MODEL_NAME,
    EngineSettings,
    build_command,
    engine_environment,
    parallel_ranks,
)
from model.engine.progress import checkpoint_bytes, read_progress
from model.engine.state import EngineInfo, EnginePaths, ensure_api_key, read_api_key
from model.engine.supervisor import DEFAULT_GRACE, Supervisor, process_alive
from model.engine.topology import Topology

Progress = Callable[[str], None]
START_TIMEOUT = 1800.0  # a 119B checkpoint from a slow disk takes a while
JOIN_TIMEOUT = 900.0  # a multi-node leader's wait for its followers (they load weights too)


class EngineError(RuntimeError):
    """The engine could not be started, reached or stopped; the message says what to do."""


@dataclass
class EngineStatus:
    running: bool
    healthy: bool
    info: EngineInfo | None
    moe_calls: int = 0
    moe_by_path: dict[str, int] = field(default_factory=dict)
    # What serves the MoE layers after the plugin's self-check before serving, with its verdict.
    moe_serving: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.running or self.info is None:
            return "no engine is running"
        if self.info.follower_of:
            return (f"follower node pid {self.info.pid} (headless: no API here) of the engine "
                    f"led from {self.info.follower_of}, model {self.info.model}, up "
                    f"{time.time() - self.info.started_at:.0f} s; MoE calls served by tessera "
                    f"kernels on this node: {self.moe_calls}" + self._serving())
        state = "healthy" if self.healthy else "starting (not answering yet)"
        uptime = time.time() - self.info.started_at
        return (f"engine pid {self.info.pid} {state} at {self.info.base_url}, model "
                f"{self.info.model}, up {uptime:.0f} s; MoE calls served by tessera kernels: "
                f"{self.moe_calls}" + self._serving())

    def _serving(self) -> str:
        return "".join(f"\nMoE layers served by: {line}" for line in self.moe_serving)


def _client_host(bound: str) -> str:
    """Where local clients connect: loopback when the engine listens on every address."""
    return "127.0.0.1" if bound in ("0.0.0.0", "::", "") else bound


def healthy(info: EngineInfo, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{info.host}:{info.port}/health",
                                    timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def engine_status(data_dir: str | Path) -> EngineStatus:
    from model.vllm_plugin.counter import read_counts

    paths = EnginePaths.under(data_dir)
    info = EngineInfo.read(paths)
    if info is None or not process_alive(info.pid):
        return EngineStatus(False, False, info)
    counts = read_counts(paths.moe_stats)
    answering = True if info.follower_of else healthy(info)  # a follower has no API to ask
    return EngineStatus(True, answering, info, counts.calls, counts.by_path, counts.serving)


@contextlib.contextmanager
def _start_lock(paths: EnginePaths) -> Iterator[None]:
    """Two clients starting at once get one engine: the second waits and then reuses it."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.root / "start.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_tail(paths: EnginePaths, lines: int = 20) -> str:
    try:
        with open(paths.log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64_000))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


def _prepare_run(settings: EngineSettings, paths: EnginePaths
                 ) -> tuple[EngineSettings, list[str], dict[str, str]]:
    resolved = settings.resolved()
    key = ensure_api_key(paths)
    shutil.rmtree(paths.moe_stats, ignore_errors=True)  # counts of an earlier engine
    paths.moe_stats.mkdir(parents=True, exist_ok=True)
    env = engine_environment(paths, key, bool(resolved.cpu),
                             ranks=parallel_ranks(resolved.extra_args))
    return resolved, build_command(resolved), env


def _rotate_log(paths: EnginePaths) -> None:
    if paths.log.exists():
        paths.log.replace(paths.log.with_name("engine.log.1"))


def start_engine(settings: EngineSettings, data_dir: str | Path, *,
                 progress: Progress | None = None, timeout: float = START_TIMEOUT) -> EngineInfo:
    """Start a detached engine, or reuse the running one; return once it answers /health."""
    paths = EnginePaths.under(data_dir)
    with _start_lock(paths):
        existing = EngineInfo.read(paths)
        if existing is not None and process_alive(existing.pid):
            wanted = str(Path(settings.model_dir).expanduser().resolve())
            if existing.model != wanted:
                raise EngineError(
                    f"an engine for {existing.model} is already running (pid {existing.pid}); "
                    "stop it first with `tessera engine stop`")
            if progress:
                progress(f"reusing the running engine (pid {existing.pid})")
            proc = None
            info = existing
        else:
            paths.info.unlink(missing_ok=True)
            resolved, command, env = _prepare_run(settings, paths)
            _rotate_log(paths)
            with open(paths.log, "ab") as log:
                proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=env, cwd=paths.root, start_new_session=True)
            info = EngineInfo(pid=proc.pid, host=_client_host(resolved.host),
                              port=resolved.port, model=str(resolved.model_dir),
                              served_model_name=SERVED_MODEL_NAME, started_at=time.time(),
                              command=command, follower_of=_follower_of(resolved))
            info.write(paths)
    if info.follower_of:  # no API to wait for: it runs until the leader is done
        _check_started(info, paths, proc)
        if progress:
            progress(f"follower node pid {info.pid} started; it joins the engine led from "
                     f"{info.follower_of}")
        return info
    wait_ready(info, paths, progress=progress, timeout=timeout, proc=proc,
               awaited=Topology.of(info.command).awaited())
    return info


def _follower_of(settings: EngineSettings) -> str | None:
    """Whom a headless node serves with (None: this node runs the API)."""
    topology = Topology.of(settings.extra_args)
    if not topology.headless:
        return None
    return topology.master if topology.nodes > 1 else topology.data_parallel_address


def _check_started(info: EngineInfo, paths: EnginePaths,
                   proc: subprocess.Popen[bytes] | None, settle: float = 3.0) -> None:
    """A follower has nothing to ask for readiness: make sure it did not die at once."""
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        exited = proc.poll() is not None if proc is not None else not process_alive(info.pid)
        if exited:
            paths.info.unlink(missing_ok=True)
            raise EngineError(f"the follower node exited during start-up; log {paths.log}:\n"
                              + log_tail(paths))
        time.sleep(0.2)


def wait_ready(info: EngineInfo, paths: EnginePaths, *, progress: Progress | None = None,
               timeout: float = START_TIMEOUT, proc: subprocess.Popen[bytes] | None = None,
               awaited: str = "") -> None:
    total = checkpoint_bytes(Path(info.model)) if Path(info.model).is_dir() else 0
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        exited = proc.poll() is not None if proc is not None else not process_alive(info.pid)
        if exited:
            code = f" with code {proc.returncode}" if proc is not None else ""
            paths.info.unlink(missing_ok=True)
            raise EngineError(f"the engine exited during start-up{code}; log {paths.log}:\n"
                              + log_tail(paths))
        if healthy(info):
            if progress:
                progress(f"engine ready at {info.base_url} "
                         f"({time.time() - info.started_at:.0f} s since start)")
            return
        if time.monotonic() > deadline:
            waiting = f" (it waits for {awaited})" if awaited else ""
            raise EngineError(f"the engine did not answer within {timeout:.0f} s{waiting}; "
                              f"see {paths.log} or stop it with `tessera engine stop`")
        if progress:
            line = read_progress(log_tail(paths, 200)).describe(total)
            if awaited:
                line += f"; a multi-node engine answers once every node has joined: {awaited}"
            if line != last:
                progress(line)
                last = line
        time.sleep(0.5)


def stop_engine(data_dir: str | Path, timeout: float = 30.0) -> EngineInfo | None:
    """Stop the engine (its whole process group); None when none was running."""
    paths = EnginePaths.under(data_dir)
    info = EngineInfo.read(paths)
    if info is None or not process_alive(info.pid):
        paths.info.unlink(missing_ok=True)
        return None
    if info.foreground and info.supervisor and process_alive(info.supervisor):
        # `tessera serve` stops its engine's whole tree and exits 0 (a stop, not a crash).
        _stop_pid(info.supervisor, os.kill, timeout)
    else:
        _stop_pid(info.pid, os.kill if info.foreground else os.killpg, timeout)
    if not info.foreground or info.supervisor:  # workers left behind by a killed leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(info.pid, signal.SIGKILL)
    paths.info.unlink(missing_ok=True)
    return info


def _stop_pid(pid: int, kill: Callable[[int, int], None], timeout: float) -> None:
    """SIGTERM, up to `timeout` to end, then SIGKILL (`kill`: os.kill or os.killpg)."""
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)


def serve_foreground(settings: EngineSettings, data_dir: str | Path, *,
                     progress: Progress | None = None, grace: float = DEFAULT_GRACE,
                     join_timeout: float = JOIN_TIMEOUT) -> int:
    """Run the engine attached to this terminal (logs on stdout) until it exits or tessera
    is stopped; returns the exit status model/engine/supervisor.py documents.

    It is registered like a detached engine, so local clients on this machine share it.
    The leader of a multi-node engine says what it waits for while its followers join,
    and stops with status 1 naming them when they have not answered in `join_timeout`.
    """
    paths = EnginePaths.under(data_dir)
    with _start_lock(paths):
        existing = EngineInfo.read(paths)
        if existing is not None and process_alive(existing.pid):
            raise EngineError(f"an engine is already running (pid {existing.pid}); "
                              "stop it first with `tessera engine stop`")
        resolved, command, env = _prepare_run(settings, paths)
        supervisor = Supervisor(command, env, grace=grace, say=progress)
        proc = supervisor.start()
        info = EngineInfo(pid=proc.pid, host=_client_host(resolved.host), port=resolved.port,
                          model=str(resolved.model_dir), served_model_name=SERVED_MODEL_NAME,
                          started_at=time.time(), command=command, foreground=True,
                          supervisor=os.getpid(), follower_of=_follower_of(resolved))
        info.write(paths)
    topology = Topology.of(resolved.extra_args)
    watch = None
    if info.follower_of:
        if progress:
            progress(f"follower node (headless): joining the engine led from {info.follower_of}")
    else:
        if progress:
            progress(f"serving {resolved.model_dir} at {info.base_url} "
                     f"(API key in {paths.api_key})")
        if topology.multi_node:
            watch = JoinWatch(info, topology.awaited(), join_timeout, progress)
    try:
        outcome = supervisor.run(watch)
    finally:
        paths.info.unlink(missing_ok=True)
    if progress:
        progress(f"{outcome.reason}; exit status {outcome.status}")
    return outcome.status


class JoinWatch:
    """A multi-node leader's wait for its followers: a line every so often saying what it
    waits for, and the reason to give up once `timeout` has passed without an answer."""

    def __init__(self, info: EngineInfo, awaited: str, timeout: float,
                 progress: Progress | None, every: float = 15.0) -> None:
        self.info, self.awaited, self.timeout = info, awaited, timeout
        self.progress, self.every = progress, every
        self.started = self.said = time.monotonic()
        self.ready = False

    def __call__(self) -> str | None:
        if self.ready:
            return None
        waited = time.monotonic() - self.started
        if healthy(self.info, timeout=1.0):
            self.ready = True
            if self.progress:
                self.progress(f"every node has joined: engine ready at {self.info.base_url} "
                              f"after {waited:.0f} s")
            return None
        if waited > self.timeout:
            return (f"no answer after {self.timeout:.0f} s: still waiting for "
                    f"{self.awaited} (is it started, and can it reach that address?)")
        if self.progress and time.monotonic() - self.said >= self.every:
            self.said = time.monotonic()
            self.progress(f"waiting {waited:.0f} s for {self.awaited}")
        return None


@dataclass
class Connection:
    base_url: str
    api_key: str
    info: EngineInfo


def connect(data_dir: str | Path, model_dir: str | Path | None = None, *,
            progress: Progress | None = None, timeout: float = START_TIMEOUT) -> Connection:
    """The running engine, started first (from `model_dir`) when none runs."""
    paths = EnginePaths.under(data_dir)
    status = engine_status(data_dir)
    if status.running and status.info is not None:
        info = status.info
        if info.follower_of:
            raise EngineError(f"this machine runs a follower node (no API) of the engine led "
                              f"from {info.follower_of}: connect to the leader's API instead "
                              "(backend openai:http://LEADER:PORT/v1)")
        if not status.healthy:
            wait_ready(info, paths, progress=progress, timeout=timeout)
    elif model_dir is not None:
        info = start_engine(EngineSettings(Path(model_dir)), data_dir, progress=progress,
                            timeout=timeout)
    else:
        raise EngineError("no engine is running and no model is configured: run "
                          "`tessera engine start MODEL_DIR` or set backend.model_dir")
    key = read_api_key(paths)
    if key is None:
        raise EngineError(f"the engine's API key {paths.api_key} is missing or unreadable")
    return Connection(info.base_url, key, info)
