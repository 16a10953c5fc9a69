"""`tessera engine` / `tessera serve` argument handling and the no-engine answers."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from agent.cli import engine as engine_cli
from model.tiny import write_tiny


def settings_for(argv: list[str], command: str = "engine") -> object:
    parser = argparse.ArgumentParser()
    engine_cli.configure(parser, command)
    return engine_cli._settings(parser.parse_args(argv))


def test_options_after_the_model_reach_vllm_but_address_stays_ours(tmp_path: Path) -> None:
    write_tiny(tmp_path, fmt="mistral")
    settings = settings_for(["start", str(tmp_path), "--tensor-parallel-size", "2",
                             "--port=8123", "--host", "0.0.0.0", "--max-model-len", "128",
                             "--enable-expert-parallel"])
    assert settings.extra_args == ["--tensor-parallel-size", "2", "--enable-expert-parallel"]
    assert (settings.host, settings.port, settings.max_model_len) == ("0.0.0.0", 8123, 128)
    served = settings_for([str(tmp_path), "--max-num-seqs", "4"], "serve")
    assert served.extra_args == ["--max-num-seqs", "4"] and served.port == 0
    parser = argparse.ArgumentParser()
    engine_cli.configure(parser, "serve")
    args = parser.parse_args([str(tmp_path), "--stop-timeout", "3", "--max-num-seqs", "4"])
    assert engine_cli._settings(args).extra_args == ["--max-num-seqs", "4"]
    assert args.stop_timeout == 3.0  # the supervisor's, never vLLM's


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *argv], capture_output=True,
                          text=True, timeout=60)


def test_status_stop_and_logs_without_an_engine() -> None:
    status = run_cli("engine", "status")
    assert status.returncode == 3 and "no engine is running" in status.stdout
    assert '"running": false' in run_cli("engine", "status", "--json").stdout
    stop = run_cli("engine", "stop")
    assert stop.returncode == 0 and "no engine was running" in stop.stdout
    logs = run_cli("engine", "logs")
    assert logs.returncode == 1 and "no engine log" in logs.stderr


def test_start_without_a_model_says_how_to_give_one() -> None:
    done = run_cli("engine", "start")
    assert done.returncode == 1
    assert "no MODEL_DIR given and backend.model_dir is not configured" in done.stderr
