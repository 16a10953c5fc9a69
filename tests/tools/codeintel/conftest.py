"""A small Python project whose reference structure is known."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tools.codeintel import repo_map as repo_map_module

CORE = '''\
class Registry:
    def register(self, item):
        return item


def lookup_entry(name):
    return Registry().register(name)
'''

LEAF_TEMPLATE = '''\
from core import Registry, lookup_entry


def handler_{i}(request):
    return lookup_entry(request) or Registry()
'''

LONELY = '''\
class Lonely:
    def alone(self):
        return 1


def lonely_helper():
    return Lonely().alone()
'''


@pytest.fixture(autouse=True)
def fresh_process_caches() -> None:
    """Each test starts as a new process would: caches only from disk."""
    repo_map_module._caches.clear()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "core.py").write_text(CORE)
    for i in range(6):
        (repo / f"leaf_{i}.py").write_text(LEAF_TEMPLATE.format(i=i))
    (repo / "lonely.py").write_text(LONELY)
    (repo / "README.md").write_text("# project\n")
    age(*repo.iterdir())
    return repo


def age(*paths: Path) -> None:
    """Date files a minute back: mtimes from the last moments are (rightly) not trusted."""
    old = time.time_ns() - 60 * 10**9
    for path in paths:
        os.utime(path, ns=(old, old))
