import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow  # each call starts a Python with torch


def tessera(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "model", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_tiny_info_check_round_trip(tmp_path) -> None:
    out = tmp_path / "tiny"
    made = tessera("tiny", str(out), "--format", "hf", "--vision", "--seed", "5")
    assert made.returncode == 0, made.stderr
    assert (out / "config.json").is_file() and (out / "tekken.json").is_file()
    info = tessera("info", str(out), "--json")
    assert info.returncode == 0, info.stderr
    report = json.loads(info.stdout)
    assert report["format"] == "hf"
    assert report["parameters"]["total"] > report["parameters"]["active"] > 0
    assert report["tensor_dtypes"] == {"F32": 57}
    check = tessera("check", str(out), "--prompt-ids", "1,3,1100,1200,4", "--max-tokens", "5",
                    "--json")
    assert check.returncode == 0, check.stderr
    result = json.loads(check.stdout)
    assert len(result["token_ids"]) == len(result["logprobs"]) == 5
    assert all(lp <= 0 for lp in result["logprobs"])


def test_check_with_an_image_uses_its_tokens(tmp_path) -> None:
    from PIL import Image

    out = tmp_path / "tiny"
    assert tessera("tiny", str(out), "--vision").returncode == 0
    image = tmp_path / "img.png"
    Image.new("RGB", (50, 40), "blue").save(image)
    args = ["check", str(out), "--prompt-ids", "1,3,1100,4", "--max-tokens", "3", "--json"]
    with_image = json.loads(tessera(*args, "--image", str(image)).stdout)
    without = json.loads(tessera(*args).stdout)
    assert with_image["logprobs"] != without["logprobs"]


def test_real_config_info_and_errors(tmp_path) -> None:
    (tmp_path / "params.json").write_text(
        (REPO / "model" / "configs" / "mistral_small_4.params.json").read_text())
    info = tessera("info", str(tmp_path))
    assert info.returncode == 0, info.stderr
    assert "119.401B" in info.stdout and "6.524B" in info.stdout
    assert "FP8 on 2×H200, 256K context" in info.stdout
    missing = tessera("check", str(tmp_path / "nowhere"), "--prompt-ids", "1", "--max-tokens", "1")
    assert missing.returncode == 2 and "neither params.json" in missing.stderr


def test_tiny_with_a_long_context(tmp_path) -> None:
    out = tmp_path / "long"
    made = tessera("tiny", str(out), "--context", "65536")
    assert made.returncode == 0, made.stderr
    params = json.loads((out / "params.json").read_text())
    assert params["max_position_embeddings"] == 65536
    assert params["yarn"]["factor"] * params["yarn"]["original_max_position_embeddings"] == 65536
    info = tessera("info", str(out), "--json")
    assert info.returncode == 0, info.stderr
    too_short = tessera("tiny", str(tmp_path / "short"), "--context", "32")
    assert too_short.returncode == 2 and "context must be at least 64" in too_short.stderr
