"""Settings that must hold before any test module is imported, whatever the order, and the
markers that name a test's prerequisites (require_program, require_module: tests/support.py).

Triton chooses between its interpreter and its compiler when it is first imported (and
vLLM imports it), so on a machine without an NVIDIA GPU the interpreter is chosen here,
before collection reaches any module that might import triton.
"""

from __future__ import annotations

import os

import pytest

if not os.path.exists("/dev/nvidiactl"):
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "require_program(*names): needs one of these programs on PATH "
        "(skips here, fails in CI: tests/support.py)")
    config.addinivalue_line(
        "markers", "require_module(name): needs this Python module installed "
        "(skips here, fails in CI: tests/support.py)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    """Before fixtures are set up: the prerequisites a test's markers name."""
    from tests.support import require_installed, require_program

    for mark in item.iter_markers("require_program"):
        require_program(*mark.args)
    for mark in item.iter_markers("require_module"):
        require_installed(*mark.args)
