"""Which paths get masked (no bubblewrap needed): resolution, symlinks, unmask, nesting."""

from __future__ import annotations

from pathlib import Path

from tools.sandbox.bwrap import build_argv, masked_paths
from tools.sandbox.policy import SandboxPolicy


def make(home: Path, *relative: str) -> None:
    for entry in relative:
        (home / entry).parent.mkdir(parents=True, exist_ok=True)
        (home / entry).write_text("secret\n")


def test_entries_are_found_however_they_are_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    make(tmp_path, ".aws/credentials", "work/.env", "vault/key")
    policy = SandboxPolicy(extra_masked_paths=("work/.env", f"{tmp_path}/vault/", "~/missing"))
    masks = masked_paths(policy, tmp_path, (".aws", ".kube"))
    assert masks[:3] == [tmp_path / ".aws", tmp_path / "work/.env", tmp_path / "vault"]


def test_a_symlinked_location_masks_its_real_path(tmp_path: Path) -> None:
    make(tmp_path, "elsewhere/aws/credentials")
    (tmp_path / ".aws").symlink_to(tmp_path / "elsewhere/aws")
    (tmp_path / ".npmrc").symlink_to(tmp_path / "nowhere")  # dangling: nothing to mask
    masks = masked_paths(SandboxPolicy(), tmp_path, (".aws", ".npmrc"))
    assert tmp_path / "elsewhere/aws" in masks
    assert not any(mask.name in (".aws", ".npmrc", "nowhere") for mask in masks)


def test_unmask_lifts_masks_at_or_below_it_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    make(tmp_path, ".ssh/id_rsa", ".config/gh/hosts.yml", ".config/gcloud/token", ".aws/x")
    secrets = (".ssh", ".config/gh", ".config/gcloud", ".aws")
    policy = SandboxPolicy(unmasked_paths=("~/.config", f"{tmp_path}/.ssh/id_rsa"))
    masks = masked_paths(policy, tmp_path, secrets)
    assert tmp_path / ".aws" in masks and tmp_path / ".ssh" in masks  # not partially lifted
    assert not any(".config" in str(mask) for mask in masks)


def test_nested_masks_leave_no_buried_mount(tmp_path: Path) -> None:
    make(tmp_path, "home/.ssh/id_rsa")
    repo = tmp_path / "repo"
    repo.mkdir()
    home = tmp_path / "home"
    argv = build_argv(["true"], policy=SandboxPolicy(), repo=repo, cwd=repo, env={},
                      masks=[home / ".ssh", home])  # fmt: skip
    assert str(home / ".ssh") not in argv  # the mask over home hides it already
    assert argv[argv.index("--remount-ro") + 1] == str(home)
