"""`tessera doctor`'s masks section: the secret locations present here and whether hidden."""

from __future__ import annotations

from pathlib import Path

from agent.doctor import check_masks


def test_masks_lists_present_locations_and_flags_an_unmasked_one(tmp_path: Path,
                                                                  monkeypatch) -> None:  # fmt: skip
    home = tmp_path / "home"
    for secret in (".aws/credentials", ".ssh/id_rsa", ".local/share/tessera/sessions.db"):
        (home / secret).parent.mkdir(parents=True, exist_ok=True)
        (home / secret).write_text("secret\n")
    config = home / ".config" / "tessera" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[sandbox]\nunmask = ["~/.ssh"]\n')
    monkeypatch.setenv("HOME", str(home))
    for name in ("TESSERA_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)

    checks = {check.name: check for check in check_masks(tmp_path)}
    assert checks["~/.aws"].ok
    assert not checks["~/.ssh"].ok and "READABLE" in checks["~/.ssh"].detail
    assert checks[f"tessera state {home / '.local/share/tessera'}"].ok
    assert checks[f"tessera state {home / '.config/tessera'}"].ok
    assert "~/.kube" not in checks  # absent here: not listed
    assert checks["built-in list"].detail.startswith("2 of ")


def test_masks_says_readable_where_no_layer_can_mask(tmp_path: Path, monkeypatch) -> None:
    import dataclasses

    from tools.sandbox import probe

    off = probe.Layer(False, "disabled for this test", "apt-get install bubblewrap")
    layers = dataclasses.replace(probe.probe_layers(), bwrap=off, landlock=off)
    monkeypatch.setattr(probe, "probe_layers", lambda: layers)
    (tmp_path / ".aws").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "data"))
    check = {c.name: c for c in check_masks(tmp_path)}["~/.aws"]
    assert not check.ok and "READABLE" in check.detail and "bubblewrap" in check.fix
