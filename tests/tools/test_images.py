"""Images into the vision path: validation, storage by hash, token cost, screenshots."""

from __future__ import annotations

import functools
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tools.base import ToolContext
from tools.images import (
    MAX_IMAGE_BYTES,
    ViewImage,
    attach_image,
    image_chunk,
    image_tokens,
    sniff_format,
    store_image,
)
from tools.screenshot import BROWSERS, Screenshot, is_loopback_host


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    repo = tmp_path / "repo"
    repo.mkdir()
    return ToolContext(repo=repo, data_dir=tmp_path / "data")


def test_png_is_stored_by_hash_with_its_token_cost(ctx: ToolContext) -> None:
    image = Image.new("RGB", (100, 60), (10, 200, 30))
    (ctx.repo / "shot.png").write_bytes(_encoded(image, "PNG"))
    result = ViewImage().invoke({"path": "shot.png"}, ctx)
    assert result.ok, result.text
    info = result.data["image"]
    assert (info["width"], info["height"]) == (100, 60)
    # 100 px → 4 columns, 60 px → 3 rows: 3 × (4 [IMG] + 1 break/end).
    assert info["tokens"] == 15
    stored = Path(info["path"])
    assert stored.parent == ctx.data_dir / "images"
    assert stored.name == f"{info['sha256']}.png"
    with Image.open(stored) as back:
        assert back.getpixel((50, 30)) == (10, 200, 30)


def test_jpeg_is_accepted_and_its_type_read_from_the_bytes(ctx: ToolContext) -> None:
    # A JPEG named .png: the bytes decide.
    (ctx.repo / "photo.png").write_bytes(_encoded(Image.new("RGB", (64, 64), "red"), "JPEG"))
    result = ViewImage().invoke({"path": "photo.png"}, ctx)
    assert result.ok, result.text
    assert result.data["image"]["source_format"] == "JPEG"


def test_webp_is_accepted(ctx: ToolContext) -> None:
    (ctx.repo / "a.webp").write_bytes(_encoded(Image.new("RGB", (30, 30), "blue"), "WEBP"))
    result = ViewImage().invoke({"path": "a.webp"}, ctx)
    assert result.ok, result.text
    assert result.data["image"]["source_format"] == "WEBP"


def test_gif_contributes_its_first_frame(ctx: ToolContext) -> None:
    frames = [Image.new("RGB", (40, 40), color) for color in ((255, 0, 0), (0, 0, 255))]
    data = _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    (ctx.repo / "anim.gif").write_bytes(data)
    result = ViewImage().invoke({"path": "anim.gif"}, ctx)
    assert result.ok, result.text
    with Image.open(result.data["image"]["path"]) as stored:
        red, _green, blue = stored.convert("RGB").getpixel((20, 20))
    assert red > 200 and blue < 50


def test_non_images_are_refused(ctx: ToolContext) -> None:
    (ctx.repo / "fake.png").write_bytes(b"this is text, not a picture")
    result = ViewImage().invoke({"path": "fake.png"}, ctx)
    assert not result.ok
    assert "not a PNG, JPEG, WebP or GIF" in result.text
    # BMP is a real image type, but not one the vision path accepts.
    (ctx.repo / "a.bmp").write_bytes(_encoded(Image.new("RGB", (8, 8)), "BMP"))
    assert not ViewImage().invoke({"path": "a.bmp"}, ctx).ok


def test_truncated_png_is_refused(ctx: ToolContext) -> None:
    data = _encoded(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    (ctx.repo / "cut.png").write_bytes(data[: len(data) // 2])
    result = ViewImage().invoke({"path": "cut.png"}, ctx)
    assert not result.ok and "could not be decoded" in result.text


def test_size_limits(ctx: ToolContext, tmp_path: Path) -> None:
    # Pixels: a tiny file that decodes to a huge canvas (a decompression bomb).
    huge = _encoded(Image.new("1", (20_000, 20_000)), "PNG")
    (ctx.repo / "bomb.png").write_bytes(huge)
    result = ViewImage().invoke({"path": "bomb.png"}, ctx)
    assert not result.ok and "too large" in result.text
    # More pixels than the limit, each side within it.
    (ctx.repo / "wide.png").write_bytes(_encoded(Image.new("1", (10_000, 6_000)), "PNG"))
    result = ViewImage().invoke({"path": "wide.png"}, ctx)
    assert not result.ok and "50,000,000 px in all" in result.text
    # A side longer than the limit, though few pixels in all.
    (ctx.repo / "strip.png").write_bytes(_encoded(Image.new("1", (17_000, 2)), "PNG"))
    result = ViewImage().invoke({"path": "strip.png"}, ctx)
    assert not result.ok and "16384 px a side" in result.text
    # Bytes: refused before decoding.
    with pytest.raises(Exception, match="limited"):
        store_image(b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_IMAGE_BYTES, tmp_path / "store")


def test_paths_outside_the_repository_are_refused(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "outside.png").write_bytes(_encoded(Image.new("RGB", (8, 8)), "PNG"))
    result = ViewImage().invoke({"path": "../outside.png"}, ctx)
    assert not result.ok and "outside the repository" in result.text


def test_user_attachment_takes_the_same_route(tmp_path: Path) -> None:
    source = tmp_path / "mine.jpg"
    source.write_bytes(_encoded(Image.new("RGB", (56, 28), "white"), "JPEG"))
    stored = attach_image(source, tmp_path / "data")
    assert stored.tokens == image_tokens(56, 28) == 3
    assert Path(stored.path).is_file()


def test_sniff_format() -> None:
    assert sniff_format(_encoded(Image.new("RGB", (4, 4)), "PNG")) == "PNG"
    assert sniff_format(_encoded(Image.new("RGB", (4, 4)), "JPEG")) == "JPEG"
    assert sniff_format(_encoded(Image.new("RGB", (4, 4)), "WEBP")) == "WEBP"
    assert sniff_format(_encoded(Image.new("RGB", (4, 4)), "GIF")) == "GIF"
    assert sniff_format(b"<svg/>") is None


@pytest.mark.parametrize(
    "size",
    [(1, 1), (28, 28), (29, 28), (100, 60), (1540, 1540), (1541, 700), (3000, 200), (200, 5000),
     (1920, 1080), (4000, 3)],
)  # fmt: skip
def test_token_count_matches_mistral_common_encoder(size: tuple[int, int]) -> None:
    from mistral_common.tokens.tokenizers.image import ImageConfig, ImageEncoder, SpecialImageIDs

    encoder = ImageEncoder(
        ImageConfig(image_patch_size=14, max_image_size=1540, spatial_merge_size=2),
        SpecialImageIDs(img=10, img_break=12, img_end=13),
    )
    chunk = image_chunk(_encoded(Image.new("RGB", size, "gray"), "PNG"))
    encoding = encoder(chunk)
    assert len(encoding.tokens) == image_tokens(*size)
    assert encoding.tokens[-1] == 13
    # Every row ends in a break except the last, which ends the image.
    rows = encoding.tokens.count(12) + 1
    assert encoding.image.shape[1] == rows * 28


# ---- screenshots ---------------------------------------------------------------------

needs_chromium = pytest.mark.require_program(*BROWSERS)  # skips here, fails in CI


@pytest.fixture
def served_page(tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<!doctype html><html><body style='margin:0;background:#2050c0'>"
        "<div style='width:200px;height:100px;background:#e03010'></div></body></html>"
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@needs_chromium
def test_screenshot_of_a_loopback_page_shows_its_colours(
    ctx: ToolContext, served_page: str
) -> None:
    result = Screenshot().invoke({"target": served_page, "width": 400, "height": 300}, ctx)
    assert result.ok, result.text
    info = result.data["image"]
    assert (info["width"], info["height"]) == (400, 300)
    assert info["tokens"] == image_tokens(400, 300)
    with Image.open(info["path"]) as shot:
        rgb = shot.convert("RGB")
        assert _close(rgb.getpixel((350, 250)), (0x20, 0x50, 0xC0))  # page background
        assert _close(rgb.getpixel((100, 50)), (0xE0, 0x30, 0x10))  # the red box


@pytest.mark.slow
@needs_chromium
def test_screenshot_of_a_repository_html_file_full_page(ctx: ToolContext) -> None:
    # A header one viewport tall (100vh) above 1500 px of content: 1700 px in all.
    (ctx.repo / "tall.html").write_text(
        "<!doctype html><body style='margin:0;background:#fff'>"
        "<div style='height:100vh;background:#0000c0'></div>"
        "<div style='height:1500px;background:#00a000'></div></body>"
    )
    args = {"target": "tall.html", "width": 300, "height": 200, "full_page": True}
    result = Screenshot().invoke(args, ctx)
    assert result.ok, result.text
    info = result.data["image"]
    assert (info["width"], info["height"]) == (300, 1700)
    with Image.open(info["path"]) as shot:
        rgb = shot.convert("RGB")
        assert _close(rgb.getpixel((150, 100)), (0, 0, 0xC0))
        assert _close(rgb.getpixel((150, 1690)), (0, 0xA0, 0))


@pytest.mark.parametrize(
    "url",
    ["http://example.com/", "http://10.0.0.5:8000/", "https://127.0.0.1.nip.io/",
     "http://127.0.0.1@example.com/", "ftp://127.0.0.1/x", "http://[::2]/"],
)  # fmt: skip
def test_screenshot_refuses_non_loopback_targets(ctx: ToolContext, url: str) -> None:
    result = Screenshot().invoke({"target": url}, ctx)
    assert not result.ok
    assert "loopback" in result.text


def test_loopback_hosts() -> None:
    for host in ("localhost", "127.0.0.1", "127.8.9.10", "[::1]", "::1", "app.localhost"):
        assert is_loopback_host(host), host
    for host in ("example.com", "10.1.1.1", "::2", "0.0.0.0", "localhost.example.com"):
        assert not is_loopback_host(host), host


def test_missing_browser_is_a_clear_error(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ctx.repo / "p.html").write_text("<p>hi</p>")
    monkeypatch.setenv("PATH", str(ctx.repo))  # no browser on this PATH
    result = Screenshot().invoke({"target": "p.html"}, ctx)
    assert not result.ok
    assert "apt-get install chromium" in result.text


def _close(pixel: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))
