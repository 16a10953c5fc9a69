"""Settings that must hold before any test module is imported, whatever the order.

Triton chooses between its interpreter and its compiler when it is first imported (and
vLLM imports it), so on a machine without an NVIDIA GPU the interpreter is chosen here,
before collection reaches any module that might import triton.
"""

from __future__ import annotations

import os

if not os.path.exists("/dev/nvidiactl"):
    os.environ.setdefault("TRITON_INTERPRET", "1")
