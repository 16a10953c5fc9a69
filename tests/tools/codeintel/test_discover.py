"""Which files the map covers."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.codeintel.discover import list_files


def _tree(root: Path) -> None:
    for rel, text in {
        "src/app.py": "x = 1\n",
        "src/build/out.py": "generated = 1\n",
        "node_modules/pkg/index.js": "module.exports = 1\n",
        ".venv/lib/site.py": "",
        "env/pyvenv.cfg": "home = /usr\n",
        "env/lib/mod.py": "",
        "debug.log": "noise\n",
        "docs/guide.md": "# guide\n",
        ".gitignore": "*.log\nbuild/\n",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_walk_skips_vendored_venvs_and_ignored(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert list_files(tmp_path) == [".gitignore", "docs/guide.md", "src/app.py"]


def test_git_listing_includes_untracked_but_not_ignored(tmp_path: Path) -> None:
    _tree(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "src/app.py"], check=True)
    files = list_files(tmp_path)
    assert "src/app.py" in files and "docs/guide.md" in files  # tracked and untracked
    assert "debug.log" not in files and "src/build/out.py" not in files
    assert not any(f.startswith(("node_modules/", ".venv/")) for f in files)
