"""Running a tool where file modes bind: as root (CAP_DAC_OVERRIDE) `chmod 000` hides
nothing, so there the tool runs in a new user namespace (`unshare --user`), where root
has no power over the host's files and reads only what their owner's mode bits allow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

TOOL_RESULT = """
import importlib, json, sys
from pathlib import Path
from tools.base import ToolContext
module, name, engine, repo, arguments = sys.argv[1:6]
tool_class = getattr(importlib.import_module(module), name)
tool = tool_class(engine) if engine else tool_class()
result = tool.invoke(json.loads(arguments), ToolContext(repo=Path(repo)))
print(json.dumps({"text": result.text, "data": result.data}))
"""


def run_without_root_powers(
    tool: str, repo: Path, arguments: dict[str, Any], engine: str = ""
) -> dict[str, Any]:
    """The text and data of `tool` ("module:Class", built with `engine` when given) run
    on `repo` by a process that mode bits bind."""
    module, _, name = tool.partition(":")
    command = [sys.executable, "-c", TOOL_RESULT, module, name, engine, str(repo),
               json.dumps(arguments)]  # fmt: skip
    if os.geteuid() == 0:
        unshare = shutil.which("unshare")
        probe = [unshare, "--user", "true"] if unshare else None
        if probe is None or subprocess.run(probe, capture_output=True).returncode != 0:
            pytest.skip("root reads files whatever their mode and `unshare --user` is refused")
        command = [unshare, "--user", *command]
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


@contextmanager
def closed(*paths: Path) -> Iterator[None]:
    """`paths` at mode 000 for the duration (opened again so the tree can be removed)."""
    for path in paths:
        path.chmod(0)
    try:
        yield
    finally:
        for path in paths:
            path.chmod(0o755)
