"""Where the agent may connect: the network mode, the allow-list, and the address check.

One policy for everything that leaves the machine on the agent's behalf: the proxy the
sandbox's commands reach the network through (allow-list mode) and `web_fetch` on the host.
`NetworkPolicy.check(host, port)` decides in two steps:

1. the name: in `off` mode nothing passes; in `allow-list` mode `host:port` must match an
   `allow_domains` entry; in `on` mode any name passes;
2. the addresses: the name is resolved here, and an address that is not globally routable
   (loopback, private, link-local, shared, unique-local, multicast, reserved) or is a cloud
   metadata service is kept only when an entry names that host or that address itself
   (not a wildcard). A public name that resolves to 127.0.0.1 is how a server-side request
   forgery reaches what only this machine should.

The verdict carries the addresses that passed, and callers connect to those: resolving the
name again to connect would let a second DNS answer differ from the checked one.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# Instance-metadata services hand out cloud credentials to whoever asks from inside the VM.
# All but one are link-local or private anyway; naming them makes the refusal say why.
METADATA_ADDRESSES = frozenset({
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
    "169.254.170.2",  # AWS ECS task credentials
    "fd00:ec2::254",  # AWS over IPv6
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud (classic)
})  # fmt: skip
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
SIXTOFOUR_PREFIX = ipaddress.IPv6Network("2002::/16")
SHARED_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class NetworkMode(StrEnum):
    OFF = "off"
    ALLOW_LIST = "allow-list"
    ON = "on"

    @property
    def rank(self) -> int:
        """Higher is looser; a repository may only move the mode down this scale."""
        return list(NetworkMode).index(self)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def normalize_host(host: str) -> str:
    """Lower case, no brackets or trailing dot, IDNA for non-ASCII names, canonical IPs.
    Raises ValueError for what is neither an IP address nor a host name."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{host!r} is not a valid host name ({exc})") from exc
    if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
        raise ValueError(f"{host!r} is not a valid host name")
    return host


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), which is where a
    connection to it ends up."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_class(address: str) -> str | None:
    """What kind of non-public address this is ("loopback", "private", ...), or None when
    it is globally routable. Raises ValueError when it is not an IP address."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if str(ip) in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        kind = address_class(str(inner))
        return f"{kind} (as IPv6)" if kind else None
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared (carrier-grade NAT)", ip.version == 4 and ip in SHARED_SPACE),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved or not ip.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


@dataclass(frozen=True)
class DomainEntry:
    """One `allow_domains` entry: a host name, `*.` and a domain (its subdomains, not the
    domain itself), or an IP address; with `:PORT`, that port only."""

    host: str
    port: int | None = None
    wildcard: bool = False
    # False for a repository's entry that the user's own list did not cover: it may narrow
    # which names pass, never open a private address.
    grants_private: bool = True

    @classmethod
    def parse(cls, text: str) -> DomainEntry:
        raw = text.strip()
        if "://" in raw or "/" in raw:
            raise ValueError(
                f"allow_domains entry {text!r}: write the host alone "
                '(e.g. "pypi.org" or "127.0.0.1:8000"), no scheme or path'
            )
        host, port = raw, None
        if raw.startswith("["):
            host, _, rest = raw[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"allow_domains entry {text!r}: expected [ADDRESS]:PORT")
                port = _port(rest[1:], text)
        elif raw.count(":") == 1:
            host, port_text = raw.split(":")
            port = _port(port_text, text)
        wildcard = host.startswith("*.")
        if wildcard:
            host = host[2:]
        if not host or "*" in host:
            raise ValueError(
                f"allow_domains entry {text!r}: a wildcard is only allowed as a "
                'leading "*." before a domain (for every host use network = "on")'
            )
        try:
            host = normalize_host(host)
        except ValueError as exc:
            raise ValueError(f"allow_domains entry {text!r}: {exc}") from exc
        if wildcard and ("." not in host or _is_ip(host)):
            raise ValueError(
                f'allow_domains entry {text!r}: "*." needs a domain of at least '
                'two labels (e.g. "*.npmjs.org")'
            )
        return cls(host, port, wildcard)

    def __str__(self) -> str:
        host = f"*.{self.host}" if self.wildcard else self.host
        if self.port is None:
            return host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def matches(self, host: str, port: int) -> bool:
        """Whether a normalised `host` and `port` fall under this entry."""
        if self.port is not None and self.port != port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host

    def names(self, host: str, address: str, port: int) -> bool:
        """Whether this entry explicitly names the host or the address (no wildcard), so
        that a non-public address behind it may be reached."""
        if self.wildcard or not self.grants_private:
            return False
        return self.matches(host, port) or self.matches(address, port)

    def covers(self, other: DomainEntry) -> bool:
        """Whether everything `other` lets through, this lets through too."""
        if self.port is not None and self.port != other.port:
            return False
        if self.wildcard:
            same = other.wildcard and other.host == self.host
            return same or other.host.endswith("." + self.host)
        return not other.wildcard and other.host == self.host


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"allow_domains entry {entry!r}: {text!r} is not a port (1-65535)")
    return int(text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class NetVerdict:
    allowed: bool
    reason: str
    host: str
    port: int
    addresses: tuple[str, ...] = ()  # when allowed: connect to these, never re-resolve the name
    entry: str | None = None  # the allow_domains entry that let it through, if any


@dataclass(frozen=True)
class NetworkPolicy:
    mode: NetworkMode = NetworkMode.OFF
    allow_domains: tuple[DomainEntry, ...] = ()

    @classmethod
    def from_config(cls, mode: str | NetworkMode, allow_domains: Iterable[str]) -> NetworkPolicy:
        """Raises ValueError naming the bad mode or entry."""
        try:
            network_mode = NetworkMode(mode)
        except ValueError as exc:
            choices = ", ".join(m.value for m in NetworkMode)
            raise ValueError(f"network must be one of {choices}; got {mode!r}") from exc
        return cls(network_mode, tuple(DomainEntry.parse(entry) for entry in allow_domains))

    def name_refusal(self, host: str, port: int) -> str | None:
        """Why the name may not be reached at all (step 1, no DNS), or None."""
        if self.mode is NetworkMode.OFF:
            return ('the network is off (sandbox.network = "off"; the user can set '
                    '"allow-list" with allow_domains, or "on")')
        if self.mode is NetworkMode.ALLOW_LIST and self._listed(host, port) is None:
            return f"{_display(host, port)} is not in sandbox.allow_domains"
        return None

    def _listed(self, host: str, port: int) -> DomainEntry | None:
        return next((entry for entry in self.allow_domains if entry.matches(host, port)), None)

    def check(self, host: str, port: int, resolver: Resolver | None = None) -> NetVerdict:
        """The verdict on connecting to `host:port`, with the checked addresses."""
        try:
            host = normalize_host(host)
        except ValueError as exc:
            return NetVerdict(False, str(exc), host, port)
        if refusal := self.name_refusal(host, port):
            return NetVerdict(False, refusal, host, port)
        entry = self._listed(host, port)
        try:
            found = [host] if _is_ip(host) else (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            return NetVerdict(False, f"cannot resolve {host}: {exc}", host, port)
        allowed: list[str] = []
        refused: list[str] = []
        for address in found:
            try:
                kind = address_class(address)
            except ValueError:
                refused.append(f"{address} (not an IP address)")
                continue
            if kind is None:
                allowed.append(address)
                continue
            granted = next((e for e in self.allow_domains if e.names(host, address, port)), None)
            if granted is None:
                refused.append(f"{address} ({kind})")
            else:
                allowed.append(address)
                entry = entry or granted
        if not allowed:
            what = f"{host} is" if _is_ip(host) else f"{host} resolves to"
            why = ", ".join(refused) or "no address"
            return NetVerdict(False, f"{what} {why}: not a public address, and no "
                                     "allow_domains entry names it", host, port)  # fmt: skip
        reason = f"{_display(host, port)} allowed" + (f" by {entry}" if entry else "")
        if refused:
            reason += f" (refused {', '.join(refused)})"
        return NetVerdict(True, reason, host, port, tuple(allowed), str(entry) if entry else None)

    def check_url(self, url: str, resolver: Resolver | None = None) -> NetVerdict:
        """`check` for an http(s) URL's host and port (its scheme's default when unwritten)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if scheme not in DEFAULT_PORTS:
            return NetVerdict(False, f"only http and https URLs, not {scheme or 'relative'}:",
                              host, 0)  # fmt: skip
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            return NetVerdict(False, f"{url!r} has no valid port", host, 0)
        if not host:
            return NetVerdict(False, f"{url!r} names no host", host, port)
        return self.check(host, port, resolver)


def _display(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
