"""`tessera doctor`'s network section: the mode, the session network, the proxy tried for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.doctor import check_network
from tests.tools.sandbox.conftest import requires_session_network


def _needs_namespace(test):
    for mark in requires_session_network():
        test = mark(test)
    return test


def _config(home: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = home / ".config" / "tessera" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(text)
    monkeypatch.setenv("HOME", str(home))
    for name in ("TESSERA_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "TESSERA_NETWORK"):
        monkeypatch.delenv(name, raising=False)


@_needs_namespace
def test_allow_list_mode_reports_a_working_proxy(tmp_path: Path, monkeypatch) -> None:
    _config(tmp_path / "home", '[sandbox]\nnetwork = "allow-list"\n'
            'allow_domains = ["pypi.org", "*.npmjs.org"]\n', monkeypatch)  # fmt: skip
    checks = {check.name: check for check in check_network(tmp_path)}
    assert "allow-list" in checks["mode"].detail and "*.npmjs.org" in checks["mode"].detail
    assert checks["session network"].ok, checks["session network"].detail
    assert checks["proxy"].ok, checks["proxy"].detail
    assert "refuses an unlisted host" in checks["proxy"].detail


def test_off_mode_says_the_proxy_is_not_used(tmp_path: Path, monkeypatch) -> None:
    _config(tmp_path / "home", '[sandbox]\nnetwork = "off"\n', monkeypatch)
    checks = {check.name: check for check in check_network(tmp_path)}
    assert checks["proxy"].ok and checks["proxy"].detail == "not used (network off)"
