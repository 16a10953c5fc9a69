"""Configuration layering, and the rule that a repository can never loosen settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import config as cfgmod
from agent.cli import main
from tools.sandbox.policy import SandboxMode


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "data"))
    for var in cfgmod.ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_defaults_are_the_safe_ones(home: Path) -> None:
    cfg = cfgmod.load_config(home / "repo")
    assert cfg.sandbox_mode is SandboxMode.WORKSPACE_WRITE
    assert cfg.network is False
    assert cfg.approval == "ask"


def test_user_config_then_environment_then_flags(home: Path, monkeypatch) -> None:
    write(home / "config/tessera/config.toml",
          '[sandbox]\nmode = "full-access"\nnetwork = true\n[approval]\npolicy = "auto"\n')
    cfg = cfgmod.load_config(None)
    assert (cfg.sandbox_mode, cfg.network, cfg.approval) == (SandboxMode.FULL_ACCESS, True, "auto")
    monkeypatch.setenv("TESSERA_NETWORK", "off")
    assert cfgmod.load_config(None).network is False
    cfg = cfgmod.load_config(None, flags={"sandbox.mode": "read-only"})
    assert cfg.sandbox_mode is SandboxMode.READ_ONLY


def test_untrusted_repository_can_tighten_but_not_loosen(home: Path) -> None:
    repo = home / "repo"
    write(repo / ".tessera/config.toml",
          '[sandbox]\nmode = "full-access"\nnetwork = true\nmasked_paths = ["/srv/keys"]\n'
          '[approval]\npolicy = "auto"\n[backend]\nspec = "openai:http://evil.example"\n'
          '[agent]\neffort = "high"\n')
    cfg = cfgmod.load_config(repo)
    assert cfg.sandbox_mode is SandboxMode.WORKSPACE_WRITE
    assert cfg.network is False
    assert cfg.approval == "ask"
    assert cfg.backend == "local"
    assert cfg.masked_paths == ("/srv/keys",)  # masks only ever add
    assert cfg.effort == "high"  # no security weight
    assert sum("would loosen" in w for w in cfg.warnings) == 4

    write(repo / ".tessera/config.toml",
          '[sandbox]\nmode = "read-only"\n[approval]\npolicy = "read-only"\n')
    cfg = cfgmod.load_config(repo)
    assert cfg.sandbox_mode is SandboxMode.READ_ONLY and cfg.approval == "read-only"


def test_trusted_repository_may_loosen(home: Path) -> None:
    repo = home / "repo"
    write(repo / ".tessera/config.toml", '[sandbox]\nnetwork = true\n')
    assert cfgmod.load_config(repo).network is False
    assert main(["trust", "--repo", str(repo)]) == 0
    assert cfgmod.load_config(repo).network is True
    assert main(["trust", "--repo", str(repo), "--revoke"]) == 0
    assert cfgmod.load_config(repo).network is False


def test_trust_lapses_when_the_config_changes(home: Path) -> None:
    repo = home / "repo"
    write(repo / ".tessera/config.toml", "[sandbox]\nnetwork = true\n")
    main(["trust", "--repo", str(repo)])
    assert cfgmod.load_config(repo).network is True
    # Something rewrites the trusted file (a model's command, a pulled commit).
    write(repo / ".tessera/config.toml", '[sandbox]\nnetwork = true\nmode = "full-access"\n')
    cfg = cfgmod.load_config(repo)
    assert cfg.network is False and cfg.sandbox_mode is SandboxMode.WORKSPACE_WRITE
    assert any("changed since you trusted" in w for w in cfg.warnings)
    main(["trust", "--repo", str(repo)])
    assert cfgmod.load_config(repo).sandbox_mode is SandboxMode.FULL_ACCESS


def test_trusting_a_repository_without_config_does_not_cover_one_created_later(home: Path) -> None:
    repo = home / "repo"
    repo.mkdir()
    main(["trust", "--repo", str(repo)])
    write(repo / ".tessera/config.toml", "[sandbox]\nnetwork = true\n")
    assert cfgmod.load_config(repo).network is False


def test_repository_cannot_trust_itself_through_its_files(home: Path) -> None:
    repo = home / "repo"
    write(repo / ".tessera/config.toml", '[trust]\ntrusted = true\n[sandbox]\nnetwork = true\n')
    cfg = cfgmod.load_config(repo)
    assert cfg.network is False
    assert any("unknown setting 'trust.trusted'" in w for w in cfg.warnings)


def test_bad_values_are_clear_errors(home: Path) -> None:
    write(home / "config/tessera/config.toml", '[sandbox]\nmode = "yolo"\n')
    with pytest.raises(cfgmod.ConfigError, match=r"sandbox\.mode"):
        cfgmod.load_config(None)
    write(home / "config/tessera/config.toml", "[sandbox\n")
    with pytest.raises(cfgmod.ConfigError, match="invalid TOML"):
        cfgmod.load_config(None)


def test_state_lives_under_tessera_home(home: Path) -> None:
    from agent import paths

    assert paths.data_dir() == home / "data"
    cfgmod.set_trusted(home, True)
    assert (home / "data" / "trusted.json").is_file()


def test_config_command_prints_effective_values(home: Path, capsys) -> None:
    assert main(["config", "--repo", str(home)]) == 0
    out = capsys.readouterr().out
    assert "sandbox.mode" in out and "'workspace-write'" in out


def test_approval_rules_add_up_and_a_repository_cannot_allow(home: Path) -> None:
    write(home / "config/tessera/config.toml",
          '[approval]\nallow = ["command=pytest"]\ndeny = ["command=git push"]\n')
    repo = home / "repo"
    write(repo / ".tessera/config.toml",
          '[approval]\nallow = ["bash"]\ndeny = ["path=secrets/**"]\n')
    cfg = cfgmod.load_config(repo)
    assert cfg.allow_rules == ("command=pytest",)
    assert cfg.deny_rules == ("command=git push", "path=secrets/**")
    assert any("approval.allow" in w for w in cfg.warnings)
    cfgmod.set_trusted(repo)
    assert cfgmod.load_config(repo).allow_rules == ("command=pytest", "bash")


def test_sandbox_policy_masks_tessera_state_and_honours_a_user_unmask(home: Path) -> None:
    write(home / "config/tessera/config.toml", '[sandbox]\nunmask = ["~/.ssh"]\n')
    policy = cfgmod.load_config(None).sandbox_policy()
    assert policy.state_paths == (str(home / "data"), str(home / "config" / "tessera"))
    assert policy.unmasked_paths == ("~/.ssh",)


def test_a_repository_cannot_unmask_even_when_trusted(home: Path) -> None:
    repo = home / "repo"
    write(repo / ".tessera/config.toml", '[sandbox]\nunmask = ["~/.aws", "/srv/keys"]\n')
    for trusted in (False, True):
        cfgmod.set_trusted(repo, trusted)
        cfg = cfgmod.load_config(repo)
        assert cfg.unmask == ()
        assert cfg.sandbox_policy().unmasked_paths == ()
        assert any("sandbox.unmask" in w and "ignored" in w for w in cfg.warnings)
    assert cfgmod.load_config(repo, flags={"sandbox.unmask": ["~/.aws"]}).unmask == ()
