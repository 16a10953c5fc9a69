"""The command line: lazy imports, clear errors, doctor."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent.cli import COMMANDS, main

HEAVY = ("torch", "vllm", "textual", "triton", "transformers", "tree_sitter", "git")


def loaded_modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\nfrom agent.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(proc.stderr.split())


@pytest.mark.parametrize(
    "argv", [["--help"], ["doctor", "--help"], ["sandbox", "--help"], ["chat", "--help"]]
)
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    assert not loaded_modules_after(argv) & set(HEAVY)


def test_every_command_has_help() -> None:
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name


def test_top_level_help_lists_commands(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_a_clear_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_doctor_reports_each_area(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    code = main(["doctor", "--json", "--repo", str(tmp_path)])
    checks = json.loads(capsys.readouterr().out)
    sections = {c["section"] for c in checks}
    assert {"python", "packages", "engine", "sandbox", "programs", "config"} <= sections
    by_name = {c["name"]: c for c in checks}
    assert by_name["git"]["ok"]
    assert by_name["python"]["ok"]
    missing = [c for c in checks if not c["ok"]]
    assert all(c["fix"] or not c["required"] or c["section"] == "config" for c in missing)
    assert code == (1 if any(c["required"] for c in missing) else 0)


def test_doctor_names_a_broken_config(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "config/tessera").mkdir(parents=True)
    (tmp_path / "config/tessera/config.toml").write_text("[sandbox]\nmode = 3\n")
    assert main(["doctor", "--repo", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "sandbox.mode" in out
