from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.git.helpers import make_repo


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")
