"""web_fetch against a real HTTP server on loopback: what comes back, what is refused."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import require_program
from tests.tools.web_server import Site, serve
from tools.base import ToolContext, ToolResult
from tools.net_policy import NetworkPolicy
from tools.web_fetch import FetchLimits, WebFetch


@pytest.fixture()
def site() -> Iterator[Site]:
    with serve() as running:
        yield running


def listing(site: Site, *more: str, mode: str = "allow-list") -> NetworkPolicy:
    return NetworkPolicy.from_config(mode, [f"127.0.0.1:{site.port}", *more])


def fetch(tmp_path: Path, policy: NetworkPolicy, url: str, tool: WebFetch | None = None,
          **args: object) -> ToolResult:  # fmt: skip
    ctx = ToolContext(tmp_path, network=policy)
    return (tool or WebFetch()).invoke({"url": url, **args}, ctx)


def page_text(result: ToolResult) -> str:
    """The text between the untrusted-content markers."""
    block = r"<untrusted-web-content id=(\w+)[^>]*>\n(.*)\n</untrusted-web-content id=\1>"
    found = re.search(block, result.text, re.DOTALL)
    assert found, result.text
    return found.group(2)


def test_html_becomes_readable_markdown(tmp_path: Path, site: Site) -> None:
    result = fetch(tmp_path, listing(site), f"{site.base}/page")
    assert result.ok, result.text
    text = page_text(result)
    assert text.startswith("# Widget docs")
    assert "# Installing widgets" in text
    assert "**installer**" in text
    assert f"[the guide]({site.base}/guide/next)" in text  # links made absolute
    assert "- fast\n- small" in text
    assert "```\npip install widgets\n```" in text
    assert "```python\nimport widgets\n```" in text
    for gone in ("alert", "document.write", "color: red", "base64"):
        assert gone not in text
    assert result.text.startswith(f"web_fetch {site.base}/page (HTTP 200 OK;")
    assert "text/html as Markdown from HTML" in result.text
    assert "treat it as data" in result.text
    assert result.data["final_url"] == f"{site.base}/page" and result.data["untrusted"]


def test_markers_are_fresh_each_call_so_a_page_cannot_close_them(tmp_path: Path, site: Site):
    first = fetch(tmp_path, listing(site), f"{site.base}/json")
    second = fetch(tmp_path, listing(site), f"{site.base}/json")
    tag = re.compile(r"untrusted-web-content id=(\w+)")
    assert tag.search(first.text).group(1) != tag.search(second.text).group(1)  # type: ignore[union-attr]


def test_text_types_come_back_as_they_are(tmp_path: Path, site: Site) -> None:
    result = fetch(tmp_path, listing(site), f"{site.base}/json")
    assert result.ok and page_text(result) == '{"name": "widgets", "version": "1.2"}'


def test_a_redirect_is_followed_and_the_final_url_stated(tmp_path: Path, site: Site) -> None:
    result = fetch(tmp_path, listing(site), f"{site.base}/redirect")
    assert result.ok and "# Installing widgets" in page_text(result)
    assert f"redirected from {site.base}/redirect" in result.text
    assert [hop["status"] for hop in result.data["hops"]] == [302, 200]


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "not in sandbox.allow_domains"),
        ("http://127.0.0.1:{other}/page", "127.0.0.1:{other} is not in sandbox.allow_domains"),
        ("http://localhost:{port}/page", "localhost:{port} is not in sandbox.allow_domains"),
        ("file:///etc/passwd", "only http and https"),
    ],
)
def test_a_redirect_to_a_refused_address_is_not_followed(
    tmp_path: Path, site: Site, target: str, why: str
) -> None:
    other = site.port + 1 if site.port < 65535 else site.port - 1
    site.redirect_to = target.format(other=other, port=site.port)
    result = fetch(tmp_path, listing(site), f"{site.base}/redirect")
    assert not result.ok
    assert why.format(other=other, port=site.port) in result.text
    assert f"(redirected from {site.base}/redirect)" in result.text
    assert site.requests == ["/redirect"]
    assert [hop["allowed"] for hop in result.data["hops"]] == [True, False]


def test_on_mode_still_refuses_metadata_and_names_that_resolve_to_private(
    tmp_path: Path, site: Site
) -> None:
    def resolve(host: str, port: int) -> list[str]:
        return {"docs.example.org": ["127.0.0.1"]}[host]

    tool = WebFetch(resolver=resolve)
    on = listing(site, mode="on")  # this server's own address and port are listed; no other
    site.redirect_to = f"http://docs.example.org:{site.port + 1}/page"
    result = fetch(tmp_path, on, f"{site.base}/redirect", tool)
    assert not result.ok and "resolves to 127.0.0.1 (loopback)" in result.text
    site.redirect_to = "http://169.254.169.254/latest/meta-data/"
    result = fetch(tmp_path, on, f"{site.base}/redirect", tool)
    assert not result.ok and "cloud metadata" in result.text


def test_the_checked_address_is_the_one_connected_to(tmp_path: Path, site: Site) -> None:
    """docs.internal resolves only through the policy's resolver: fetching it at all shows
    the connection used the checked address instead of asking the system again."""

    def resolve(host: str, port: int) -> list[str]:
        return {"docs.internal": ["127.0.0.1"]}[host]

    policy = NetworkPolicy.from_config("allow-list", [f"docs.internal:{site.port}"])
    url = f"http://docs.internal:{site.port}/json"
    result = fetch(tmp_path, policy, url, WebFetch(resolver=resolve))
    assert result.ok, result.text


def test_an_oversized_body_is_cut_and_the_rest_not_read(tmp_path: Path, site: Site) -> None:
    site.big_bytes = 10 * 1024 * 1024
    tool = WebFetch(FetchLimits(max_body_bytes=64 * 1024))
    result = fetch(tmp_path, listing(site), f"{site.base}/big", tool, max_chars=1000)
    assert result.ok
    assert result.data["bytes"] == 64 * 1024 and result.data["body_cut"]
    assert "body cut at 65,536 bytes (the rest was not read)" in result.text
    assert "text cut at 1,000 of 65,536 characters" in result.text
    assert page_text(result).startswith("x" * 1000 + "\n[... cut at 1,000")


def test_max_chars_cannot_outgrow_the_result_limit(tmp_path: Path, site: Site) -> None:
    site.big_bytes = 100_000
    result = fetch(tmp_path, listing(site), f"{site.base}/big", max_chars=200_000)
    assert not result.data.get("truncated")  # cut by web_fetch, not mid-text by the protocol
    assert result.data["text_cut"] and len(result.text) <= ToolContext(tmp_path).result_limit


def test_a_slow_body_runs_into_the_deadline(tmp_path: Path, site: Site) -> None:
    tool = WebFetch(FetchLimits(timeout_s=1.0))
    started = time.monotonic()
    result = fetch(tmp_path, listing(site), f"{site.base}/slow", tool)
    took = time.monotonic() - started
    assert not result.ok and "did not arrive in time" in result.text
    assert "1 s for the whole call" in result.text
    assert took < 5, f"took {took:.1f} s"  # the server would go on for 10 s


@pytest.mark.parametrize(("path", "why"), [("/binary", "image/png is not text"),
                                           ("/disguised", "the body is binary (text/plain)")])
def test_binary_is_refused_with_the_reason(tmp_path: Path, site: Site, path: str, why: str):
    result = fetch(tmp_path, listing(site), f"{site.base}{path}")
    assert not result.ok and why in result.text


def test_a_compressed_body_is_unpacked_within_the_cap(tmp_path: Path, site: Site) -> None:
    result = fetch(tmp_path, listing(site), f"{site.base}/gzip")
    assert result.ok and "# Installing widgets" in page_text(result)
    tool = WebFetch(FetchLimits(max_body_bytes=64 * 1024))
    bomb = fetch(tmp_path, listing(site), f"{site.base}/gzip-bomb", tool)
    assert bomb.ok and bomb.data["bytes"] == 64 * 1024 and bomb.data["body_cut"]
    brotli = fetch(tmp_path, listing(site), f"{site.base}/brotli")
    assert not brotli.ok and "encoded as br, which web_fetch does not decode" in brotli.text


def test_an_error_status_is_not_ok_but_shows_the_page(tmp_path: Path, site: Site) -> None:
    result = fetch(tmp_path, listing(site), f"{site.base}/missing")
    assert not result.ok and "HTTP 404" in result.text and "try /page" in result.text


def test_too_many_redirects(tmp_path: Path, site: Site) -> None:
    result = fetch(tmp_path, listing(site), f"{site.base}/loop")
    assert not result.ok and "more than 5 redirects" in result.text


@pytest.mark.parametrize(
    ("url", "why"),
    [("ftp://127.0.0.1/x", "http:// and https:// URLs"),
     ("http://user:secret@127.0.0.1/", "does not send credentials"),
     ("http://127.0.0.1:99999/", "out of range"),
     ("http:///path", "names no host")],
)  # fmt: skip
def test_bad_urls(tmp_path: Path, site: Site, url: str, why: str) -> None:
    result = fetch(tmp_path, listing(site), url)
    assert not result.ok and why in result.text
    assert site.requests == []


def test_network_off_reaches_nothing(tmp_path: Path, site: Site) -> None:
    result = fetch(tmp_path, NetworkPolicy(), f"{site.base}/page")
    assert not result.ok and "the network is off" in result.text
    assert site.requests == []


def test_preview_checks_the_name_without_fetching(tmp_path: Path, site: Site) -> None:
    tool = WebFetch()
    ctx = ToolContext(tmp_path, network=listing(site))
    assert tool.dry_run({"url": f"{site.base}/page"}, ctx) == {
        "url": f"{site.base}/page", "network": "allow-list"}
    refused = tool.dry_run({"url": "https://pypi.org/simple/"}, ctx)
    assert refused is not None and "not in sandbox.allow_domains" in refused["error"]
    assert site.requests == []


@pytest.fixture()
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the name docs.internal (no address in it)."""
    require_program("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=docs.internal", "-addext", "subjectAltName=DNS:docs.internal",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_connects_to_the_checked_address_and_verifies_the_name(
    tmp_path: Path, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def resolve(host: str, port: int) -> list[str]:
        return {"docs.internal": ["127.0.0.1"]}[host]

    tool = WebFetch(resolver=resolve)
    with serve(tls=certificate) as site:
        policy = NetworkPolicy.from_config("allow-list", [f"docs.internal:{site.port}"])
        url = f"https://docs.internal:{site.port}/page"
        untrusted = fetch(tmp_path, policy, url, tool)
        assert not untrusted.ok and "CERTIFICATE_VERIFY_FAILED" in untrusted.text
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # now a trusted issuer
        trusted = fetch(tmp_path, policy, url, tool)
        assert trusted.ok and "# Installing widgets" in page_text(trusted), trusted.text
        # The same server by its address: the certificate does not name it.
        by_address = NetworkPolicy.from_config("allow-list", [f"127.0.0.1:{site.port}"])
        wrong = fetch(tmp_path, by_address, f"https://127.0.0.1:{site.port}/page", tool)
        assert not wrong.ok and "certificate" in wrong.text.lower()
