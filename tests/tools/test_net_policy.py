"""The network policy: entries, wildcards, ports, and the refusal of non-public addresses."""

from __future__ import annotations

import pytest

from tools.net_policy import DomainEntry, NetworkMode, NetworkPolicy, address_class


def answers(table: dict[str, list[str]]):
    """A resolver that answers from a table: a DNS answer we choose, as a name server could."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    return resolve


PUBLIC = answers({
    "pypi.org": ["151.101.0.223"],
    "registry.npmjs.org": ["104.16.0.35"],
    "a.b.npmjs.org": ["104.16.0.36"],
    "npmjs.org": ["104.16.0.37"],
    "evil.example": ["127.0.0.1"],
    "meta.example": ["169.254.169.254"],
    "mixed.example": ["10.0.0.5", "93.184.216.34"],
    "intranet.corp": ["10.1.2.3"],
    "wiki.corp": ["10.1.2.4"],
})  # fmt: skip


def allow_list(*entries: str) -> NetworkPolicy:
    return NetworkPolicy.from_config("allow-list", entries)


def test_off_refuses_everything_without_resolving():
    def never(host: str, port: int) -> list[str]:
        raise AssertionError("off mode must not resolve")

    verdict = NetworkPolicy().check("pypi.org", 443, never)
    assert not verdict.allowed and "network is off" in verdict.reason


def test_exact_entry_without_port_allows_any_port():
    policy = allow_list("pypi.org")
    for port in (80, 443, 8443):
        verdict = policy.check("pypi.org", port, PUBLIC)
        assert verdict.allowed and verdict.addresses == ("151.101.0.223",)
        assert verdict.entry == "pypi.org"


def test_wildcard_matches_subdomains_only():
    policy = allow_list("*.npmjs.org")
    assert policy.check("registry.npmjs.org", 443, PUBLIC).allowed
    assert policy.check("a.b.npmjs.org", 443, PUBLIC).allowed
    apex = policy.check("npmjs.org", 443, PUBLIC)
    assert not apex.allowed and "not in sandbox.allow_domains" in apex.reason
    assert not policy.check("evilnpmjs.org", 443, PUBLIC).allowed


def test_port_entries_allow_that_port_only():
    policy = allow_list("127.0.0.1:8123", "[::1]:9000")
    assert policy.check("127.0.0.1", 8123).allowed
    refused = policy.check("127.0.0.1", 8124)
    assert not refused.allowed and "127.0.0.1:8124 is not in" in refused.reason
    assert policy.check("[::1]", 9000).allowed
    assert not policy.check("::1", 9001).allowed


def test_names_are_compared_normalised():
    policy = allow_list("PyPI.org.")
    assert policy.check("pypi.ORG.", 443, PUBLIC).allowed
    assert str(DomainEntry.parse("Bücher.example")) == "xn--bcher-kva.example"


def test_public_name_resolving_to_loopback_is_refused():
    resolve = answers({"evil.example.org": ["127.0.0.1"]})
    for policy in (NetworkPolicy.from_config("on", []), allow_list("*.example.org"),
                   NetworkPolicy.from_config("on", ["127.0.0.1:80"])):  # fmt: skip
        verdict = policy.check("evil.example.org", 81, resolve)
        assert not verdict.allowed and verdict.addresses == ()
    on = NetworkPolicy.from_config("on", []).check("evil.example.org", 80, resolve)
    assert "resolves to 127.0.0.1 (loopback)" in on.reason


def test_naming_a_host_exactly_trusts_its_answers():
    """The documented rule: an exact entry is the user's word that this name may lead to
    a non-public address (an intranet host); its DNS is trusted as far as that."""
    verdict = allow_list("evil.example").check("evil.example", 80, PUBLIC)
    assert verdict.allowed and verdict.addresses == ("127.0.0.1",)


def test_wildcard_never_opens_a_private_address():
    with pytest.raises(ValueError):  # one label after "*." is refused outright
        DomainEntry.parse("*.corp")
    policy = NetworkPolicy.from_config("allow-list", ["*.in.corp.example"])
    resolve = answers({"db.in.corp.example": ["10.0.0.9"]})
    verdict = policy.check("db.in.corp.example", 5432, resolve)
    assert not verdict.allowed and "10.0.0.9 (private)" in verdict.reason


def test_an_entry_naming_the_host_opens_its_private_address():
    policy = allow_list("intranet.corp")
    assert policy.check("intranet.corp", 443, PUBLIC).addresses == ("10.1.2.3",)
    assert not allow_list("intranet.corp").check("wiki.corp", 443, PUBLIC).allowed


def test_on_mode_needs_an_entry_for_private_addresses():
    open_policy = NetworkPolicy.from_config("on", [])
    assert open_policy.check("pypi.org", 443, PUBLIC).allowed
    assert not open_policy.check("intranet.corp", 443, PUBLIC).allowed
    listed = NetworkPolicy.from_config("on", ["127.0.0.1:8123"])
    assert listed.check("127.0.0.1", 8123).allowed
    assert not listed.check("127.0.0.1", 8124).allowed


def test_localhost_resolves_to_loopback_and_is_refused_unless_named():
    """The system resolver, with a name every machine resolves to loopback."""
    on = NetworkPolicy.from_config("on", [])
    verdict = on.check("localhost", 8000)
    assert not verdict.allowed and "loopback" in verdict.reason
    named = NetworkPolicy.from_config("on", ["localhost:8000"]).check("localhost", 8000)
    assert named.allowed and all(address_class(a) == "loopback" for a in named.addresses)
    # Naming the address also covers a spelling of it the resolver accepts.
    assert NetworkPolicy.from_config("on", ["127.0.0.1:8000"]).check("127.1", 8000).allowed


def test_mixed_answer_keeps_only_the_public_addresses():
    verdict = NetworkPolicy.from_config("on", []).check("mixed.example", 80, PUBLIC)
    assert verdict.allowed and verdict.addresses == ("93.184.216.34",)
    assert "refused 10.0.0.5 (private)" in verdict.reason


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("::ffff:127.0.0.1", "loopback (as IPv6)"),
        ("64:ff9b::a00:1", "private (as IPv6)"),
        ("2002:c0a8:101::", "private (as IPv6)"),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_classes(address: str, kind: str | None):
    assert address_class(address) == kind


def test_metadata_refused_even_in_on_mode_and_through_a_name():
    on = NetworkPolicy.from_config("on", [])
    assert "cloud metadata" in on.check("169.254.169.254", 80).reason
    assert "cloud metadata" in on.check("meta.example", 80, PUBLIC).reason


def test_resolver_failure_is_a_refusal():
    verdict = NetworkPolicy.from_config("on", []).check("nowhere.example", 80, PUBLIC)
    assert not verdict.allowed and "cannot resolve nowhere.example" in verdict.reason


@pytest.mark.parametrize(
    "bad", ["*", "*.com", "foo*.org", "https://pypi.org", "pypi.org/simple", "x.org:0",
            "x.org:70000", "[::1]8000", "bad_label-.org", ""],
)  # fmt: skip
def test_bad_entries_are_refused_with_the_entry_named(bad: str):
    with pytest.raises(ValueError, match="allow_domains entry"):
        DomainEntry.parse(bad)


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="network must be one of off, allow-list, on"):
        NetworkPolicy.from_config("sometimes", [])


def test_check_url():
    policy = allow_list("pypi.org:443", "127.0.0.1:8000")
    assert policy.check_url("https://pypi.org/simple/", PUBLIC).allowed
    assert not policy.check_url("http://pypi.org/simple/", PUBLIC).allowed  # port 80
    assert policy.check_url("http://127.0.0.1:8000/x").allowed
    assert "only http and https" in policy.check_url("ftp://pypi.org/").reason
    assert "only http and https" in policy.check_url("file:///etc/passwd").reason
    assert not policy.check_url("http://127.0.0.1:99999/").allowed
    # The host is what urllib would connect to, not the user-info part.
    assert not policy.check_url("http://127.0.0.1:8000@evil.example/", PUBLIC).allowed


def test_covers():
    wide, exact = DomainEntry.parse("*.npmjs.org"), DomainEntry.parse("registry.npmjs.org")
    assert wide.covers(exact) and wide.covers(DomainEntry.parse("*.x.npmjs.org"))
    assert wide.covers(wide) and not exact.covers(wide)
    assert not wide.covers(DomainEntry.parse("npmjs.org"))
    assert DomainEntry.parse("pypi.org").covers(DomainEntry.parse("pypi.org:443"))
    assert not DomainEntry.parse("pypi.org:443").covers(DomainEntry.parse("pypi.org"))


def test_mode_rank():
    assert NetworkMode.OFF.rank < NetworkMode.ALLOW_LIST.rank < NetworkMode.ON.rank


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f.1", "017700000001", "127.1", "0", "[::]"])
def test_other_spellings_of_local_addresses_are_refused(spelling: str):
    """The system resolver reads these as loopback or unspecified; the check sees what it
    returns, not the spelling."""
    verdict = NetworkPolicy.from_config("on", []).check(spelling, 80)
    assert not verdict.allowed
    assert "(loopback)" in verdict.reason or "(unspecified)" in verdict.reason
