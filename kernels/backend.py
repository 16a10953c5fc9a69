"""Which implementation runs: Triton on CUDA, torch on CPU, or Triton forced onto the CPU.

``backend`` is "auto" (the default), "torch" or "triton"; the ``TESSERA_MOE_BACKEND``
environment variable sets the default. "triton" on CPU tensors runs the Triton kernels under
the Triton interpreter (``TRITON_INTERPRET=1``), which is how CI proves them exact without a
GPU. Triton decides interpreter-or-compiler when a kernel module is imported, so the kernel
modules are imported here, lazily, after the variable is set; nothing imports Triton at
package import. (Triton's own library is also fixed at its first import, so in a process that
has already imported Triton for the GPU, CPU tensors cannot take the Triton path.)
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Literal

import torch

Backend = Literal["auto", "torch", "triton"]
BACKEND_ENV = "TESSERA_MOE_BACKEND"
_CHOICES = ("auto", "torch", "triton")


def requested_backend(backend: str | None) -> str:
    """The backend asked for: the argument, else ``TESSERA_MOE_BACKEND``, else "auto" (not
    yet checked; `resolve_backend` checks it)."""
    return backend if backend is not None else os.environ.get(BACKEND_ENV, "auto") or "auto"


def resolve_backend(device: torch.device, backend: str | None) -> Literal["torch", "triton"]:
    choice = requested_backend(backend)
    if choice not in _CHOICES:
        source = "backend" if backend is not None else BACKEND_ENV
        raise ValueError(f"{source} is {choice!r}; expected one of {', '.join(_CHOICES)}")
    if choice == "auto":
        return "triton" if device.type == "cuda" else "torch"
    if choice == "triton" and device.type not in ("cuda", "cpu"):
        raise ValueError(f"the Triton backend runs on cuda (or cpu, interpreted), not {device}")
    return choice  # type: ignore[return-value]


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0", "false", "False")


def triton_module(name: str, device: torch.device) -> ModuleType:
    """Import ``kernels.<name>`` (a module of Triton kernels) set up for ``device``."""
    full = f"kernels.{name}"
    if device.type == "cpu" and full not in sys.modules and not interpreting():
        # Triton's own library functions (tl.sum, tl.argmax…) are made interpreted or
        # compiled when triton is first imported, so the switch must precede that import.
        if "triton" in sys.modules:
            raise RuntimeError(
                "Triton was imported before TRITON_INTERPRET=1 was set, so Triton kernels "
                "cannot run on CPU tensors in this process; set TRITON_INTERPRET=1 before "
                "anything imports triton"
            )
        os.environ["TRITON_INTERPRET"] = "1"
    module = importlib.import_module(full)
    compiled_for_cpu = module.INTERPRETED
    if device.type == "cpu" and not compiled_for_cpu:
        raise RuntimeError(
            f"{full} was imported for the GPU (TRITON_INTERPRET unset), so it cannot run on CPU "
            "tensors in this process; set TRITON_INTERPRET=1 before the first Triton use"
        )
    if device.type == "cuda" and compiled_for_cpu:
        raise RuntimeError(
            f"{full} was imported under TRITON_INTERPRET=1, so it cannot run on CUDA tensors "
            "in this process; unset TRITON_INTERPRET"
        )
    return module
