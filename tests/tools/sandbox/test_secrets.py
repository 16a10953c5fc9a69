"""Battery, secrets: credential files, the parent's environment and host processes."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.tools.sandbox.conftest import requires_bwrap

pytestmark = requires_bwrap()

SECRET_FILES = (".ssh/id_rsa", ".aws/credentials", ".npmrc", ".netrc", ".config/gh/hosts.yml")


def test_home_is_visible_so_the_masks_are_what_hide_secrets(run, fake_home) -> None:
    result = run(f"cat {fake_home.visible_file}")
    assert fake_home.visible_token in result.output


@pytest.mark.parametrize("relative", SECRET_FILES)
def test_secret_file_is_unreadable(run, fake_home, relative: str) -> None:
    result = run(f"cat ~/{relative}; cat {fake_home.path / relative}")
    assert fake_home.secrets[relative] not in result.output


def test_grep_over_home_finds_no_secret(run, fake_home) -> None:
    result = run("grep -r 'token =' ~ ; grep -r SECRET- ~")
    for token in fake_home.secrets.values():
        assert token not in result.output


def test_extra_masked_paths_relative_and_absolute(run, fake_home, outside: Path) -> None:
    relative_secret = fake_home.path / "work" / ".env"
    relative_secret.parent.mkdir()
    relative_secret.write_text("API_KEY=relative-secret\n")
    masked_dir = outside / "vault"
    masked_dir.mkdir()
    (masked_dir / "key").write_text("absolute-secret\n")
    result = run(
        f"cat {relative_secret} {masked_dir}/key; cat {outside}/outside.txt",
        extra_masked_paths=("work/.env", str(masked_dir)),
    )
    assert "relative-secret" not in result.output
    assert "absolute-secret" not in result.output
    assert "outside content" in result.output  # only the masked paths are hidden


def test_secret_env_var_absent_from_env_and_proc_environ(run, monkeypatch) -> None:
    token = f"ghp_{uuid.uuid4().hex}"
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.setenv("TESSERA_TEST_API_KEY", token)
    result = run("env; cat /proc/*/environ | tr '\\0' '\\n'")
    assert token not in result.output
    assert "HOME=" in result.output  # the allow-list still passes what commands need


def test_host_pid_is_invisible_and_cannot_be_killed(run) -> None:
    host = subprocess.Popen(["sleep", "60"])
    try:
        result = run(
            f"ls /proc/{host.pid}/cmdline && echo VISIBLE; kill -9 {host.pid} && echo KILLED; "
            "ps -e -o pid=,comm= | wc -l"
        )
        assert "VISIBLE" not in result.output
        assert "KILLED" not in result.output
        assert host.poll() is None
    finally:
        host.kill()
        host.wait()


@pytest.mark.skipif(not os.access("/etc/shadow", os.R_OK), reason="needs a readable /etc/shadow")
def test_system_secrets_are_masked_when_readable(run) -> None:
    first_line = Path("/etc/shadow").read_text().splitlines()[0]
    result = run("cat /etc/shadow")
    assert first_line not in result.output
