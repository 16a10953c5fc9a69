"""Engine process management without starting vLLM: command, environment, key, state."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.engine import (
    EngineError,
    EngineInfo,
    EnginePaths,
    EngineSettings,
    build_command,
    command,
    engine_environment,
    engine_status,
    start_engine,
    stop_engine,
)
from model.engine.command import cpu_thread_binding, parallel_ranks
from model.engine.progress import read_progress
from model.engine.state import ensure_api_key
from model.tiny import write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-mistral")
    write_tiny(directory, fmt="mistral")
    return directory


def option(command: list[str], name: str) -> str:
    return command[len(command) - 1 - command[::-1].index(name) + 1]


def test_command_serves_the_model_on_loopback_with_its_settings(tiny: Path) -> None:
    settings = EngineSettings(tiny, extra_args=["--max-num-seqs", "4", "--dtype", "bfloat16"],
                              cpu=True).resolved()
    command = build_command(settings)
    assert command[:3] == [sys.executable, "-m", "model.engine.vllm_serve"]
    assert option(command, "--model") == str(tiny.resolve())
    assert option(command, "--host") == "127.0.0.1"
    assert 0 < int(option(command, "--port")) < 65536
    assert option(command, "--max-model-len") == "256"  # the checkpoint's context
    for flag in ("--enable-prefix-caching", "--enable-prompt-tokens-details",
                 "--enable-auto-tool-choice", "--enforce-eager"):
        assert flag in command
    assert option(command, "--tool-call-parser") == "mistral"
    assert option(command, "--reasoning-parser") == "mistral"
    for name in ("--config-format", "--load-format", "--tokenizer-mode"):
        assert option(command, name) == "mistral"
    # The user's options come last, so vLLM keeps them over ours.
    assert command[-4:] == ["--max-num-seqs", "4", "--dtype", "bfloat16"]
    assert option(command, "--dtype") == "bfloat16"


def test_gpu_command_leaves_dtype_and_graphs_to_vllm(tiny: Path) -> None:
    command = build_command(EngineSettings(tiny, port=8000, max_model_len=128,
                                           cpu=False).resolved())
    assert "--dtype" not in command and "--enforce-eager" not in command
    assert option(command, "--port") == "8000"
    assert option(command, "--max-model-len") == "128"


def test_hf_checkpoint_is_not_given_mistral_formats(tmp_path: Path) -> None:
    write_tiny(tmp_path, fmt="hf")
    command = build_command(EngineSettings(tmp_path, cpu=False).resolved())
    assert "--config-format" not in command


def test_missing_model_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        EngineSettings(tmp_path / "nope").resolved()


def test_environment_carries_key_counter_dir_and_cpu_settings(tmp_path: Path) -> None:
    paths = EnginePaths.under(tmp_path)
    env = engine_environment(paths, "k1", cpu=True, base={"VLLM_CPU_KVCACHE_SPACE": "4"})
    assert env["VLLM_API_KEY"] == "k1"
    assert env["TESSERA_MOE_STATS_DIR"] == str(paths.moe_stats)
    assert env["VLLM_MLA_DISABLE"] == "1"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "4"  # the user's value wins
    assert env["HF_HUB_OFFLINE"] == "1"
    gpu = engine_environment(paths, "k1", cpu=False, base={})
    assert "VLLM_MLA_DISABLE" not in gpu and "VLLM_CPU_KVCACHE_SPACE" not in gpu


@pytest.mark.parametrize(("cpus", "ranks", "binding"), [
    ([0, 1], 2, "0|1"),
    (list(range(8)), 2, "0-3|4-7"),
    (list(range(7)), 2, "0-3|4-6"),  # the first ranks take the remainder
    ([4, 0, 2, 6, 1, 3], 3, "0-1|2-3|4,6"),  # sorted, contiguous runs as ranges
    (list(range(8)), 4, "0-1|2-3|4-5|6-7"),
    ([3], 2, "3|3"),  # fewer CPUs than ranks: shared, but it runs
])
def test_cpu_binding_splits_the_allowed_cpus_among_the_ranks(cpus: list[int], ranks: int,
                                                             binding: str) -> None:
    assert cpu_thread_binding(cpus, ranks) == binding


@pytest.mark.parametrize(("args", "ranks"), [
    ([], 1),
    (["--tensor-parallel-size", "2"], 2),
    (["-tp", "2", "--pipeline-parallel-size=3"], 6),
    (["--tensor-parallel-size=4", "--tensor-parallel-size", "2", "-pp", "2"], 4),  # last wins
    (["-pp", "2", "--nnodes", "2", "--node-rank", "1", "--headless"], 1),  # one stage per node
    (["--data-parallel-size", "2"], 2),  # both engines on this node
    (["--data-parallel-size", "2", "--data-parallel-size-local", "1", "-tp", "2"], 2),
])
def test_parallel_ranks_read_from_the_users_vllm_options(args: list[str], ranks: int) -> None:
    assert parallel_ranks(args) == ranks


def test_cpu_engine_with_several_ranks_gets_a_binding_unless_the_user_gave_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One NUMA node and tensor parallel 2: vLLM's automatic binding refuses to start."""
    monkeypatch.setattr(command, "numa_nodes", lambda: 1)
    monkeypatch.setattr(command.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    paths = EnginePaths.under(tmp_path)
    env = engine_environment(paths, "k", cpu=True, base={}, ranks=2)
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "0-1|2-3"
    mine = engine_environment(paths, "k", cpu=True, ranks=2,
                              base={"VLLM_CPU_OMP_THREADS_BIND": "nobind"})
    assert mine["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"
    for env in (engine_environment(paths, "k", cpu=True, base={}, ranks=1),
                engine_environment(paths, "k", cpu=False, base={}, ranks=2)):
        assert "VLLM_CPU_OMP_THREADS_BIND" not in env
    monkeypatch.setattr(command, "numa_nodes", lambda: 2)  # vLLM's NUMA-aware binding works
    assert "VLLM_CPU_OMP_THREADS_BIND" not in engine_environment(paths, "k", cpu=True, base={},
                                                                 ranks=2)


def test_api_key_is_private_random_and_stable(tmp_path: Path) -> None:
    paths = EnginePaths.under(tmp_path / "a")
    key = ensure_api_key(paths)
    assert stat.S_IMODE(paths.api_key.stat().st_mode) == 0o600
    assert len(key) > 32 and ensure_api_key(paths) == key
    assert ensure_api_key(EnginePaths.under(tmp_path / "b")) != key


def test_progress_reads_weights_loading_from_the_log() -> None:
    log = ("INFO Starting to load model /m...\n"
           "Loading safetensors checkpoint shards:   0% Completed | 0/4 [00:00<?, ?it/s]\r"
           "Loading safetensors checkpoint shards:  50% Completed | 2/4 [00:30<00:30, 15s/it]\r")
    progress = read_progress(log)
    assert progress.phase == "loading weights" and progress.fraction == 0.5
    assert progress.describe(4_000_000_000) == (
        "loading weights: 2.0 GB of 4.0 GB (50%), ETA 00:30")
    assert read_progress(log + "\nINFO Loading weights took 61.2 seconds\n").phase == (
        "weights loaded")
    assert read_progress("").describe(10) == "starting vLLM"


def write_record(tmp_path: Path, pid: int, model: str) -> EnginePaths:
    paths = EnginePaths.under(tmp_path)
    EngineInfo(pid=pid, host="127.0.0.1", port=1, model=model, served_model_name="tessera",
               started_at=time.time()).write(paths)
    return paths


def test_status_and_stop_forget_a_dead_engine(tmp_path: Path) -> None:
    assert not engine_status(tmp_path).running
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    paths = write_record(tmp_path, dead.pid, "/m")
    assert not engine_status(tmp_path).running
    assert stop_engine(tmp_path) is None
    assert not paths.info.exists()


def test_start_refuses_a_second_model_and_stop_ends_the_first(tmp_path: Path,
                                                              tiny: Path) -> None:
    engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              start_new_session=True)
    try:
        write_record(tmp_path, engine.pid, "/some/other/model")
        status = engine_status(tmp_path)
        assert status.running and not status.healthy  # alive, but answers no /health
        with pytest.raises(EngineError, match="already running"):
            start_engine(EngineSettings(tiny), tmp_path, timeout=5)
        stopped = stop_engine(tmp_path, timeout=5)
        assert stopped is not None and stopped.pid == engine.pid
        assert engine.wait(timeout=10) == -15  # SIGTERM reached its process group
    finally:
        if engine.poll() is None:
            os.killpg(engine.pid, 9)
            engine.wait()
