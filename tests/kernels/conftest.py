"""Kernel tests: fresh random inputs every run, NaN-poisoned buffers, Triton interpreted on CPU.

Triton decides interpreter-or-compiler when a kernel module is imported, so without a GPU
``TRITON_INTERPRET=1`` is set here, before any test imports one. Each test gets a fresh seed,
printed so a failure can be replayed with ``TESSERA_TEST_SEED=<seed>``.
"""

from __future__ import annotations

import os
import secrets

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def seed() -> int:
    value = int(os.environ.get("TESSERA_TEST_SEED") or secrets.randbits(31))
    torch.manual_seed(value)
    print(f"seed={value} (replay with TESSERA_TEST_SEED={value})")
    return value


@pytest.fixture(autouse=True)
def poisoned_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    from kernels import buffers

    monkeypatch.setattr(buffers, "POISON", True)
