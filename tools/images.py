"""Images into the model's vision path: validate, store by content hash, price in tokens.

`view_image` (the tool), user attachments and screenshots all go through
`store_image`: the real type is checked from the bytes (not the name), sizes are
bounded, a GIF contributes its first frame, and the image is kept as PNG under
`<data dir>/images/<sha256>.png`. The conversation carries
`{"image": {"sha256", "path", "width", "height", "tokens"}}` and builds the
mistral-common chunk with `image_chunk` when it encodes the request.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from tools.atomic import write_atomically
from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.paths import display_path, resolve_in_repo

if TYPE_CHECKING:
    from mistral_common.protocol.instruct.chunk import ImageChunk
    from PIL.Image import Image

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000
MAX_SIDE_PIXELS = 16_384

# The vision encoder (Pixtral): 14 px patches merged 2×2, long side at most 1540 px.
PATCH_SIZE = 14
SPATIAL_MERGE = 2
MAX_IMAGE_SIDE = 1540
TOKEN_PIXELS = PATCH_SIZE * SPATIAL_MERGE

# Magic bytes → format name (Pillow's spelling).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)


@dataclass(frozen=True)
class StoredImage:
    sha256: str  # of the original bytes
    path: str  # the stored PNG
    width: int
    height: int
    tokens: int
    source_format: str

    def as_data(self) -> dict[str, Any]:
        return {"image": asdict(self)}


def sniff_format(data: bytes) -> str | None:
    """The image format from the leading bytes, or None when it is none we accept."""
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def image_tokens(width: int, height: int) -> int:
    """Tokens the model spends on a width×height image.

    Resize so the long side is at most 1540 px (keeping the aspect ratio), then one
    [IMG] per 28×28 px cell, rounding up; each row of cells ends in [IMG_BREAK], the
    last row in [IMG_END] instead.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    ratio = max(width / MAX_IMAGE_SIDE, height / MAX_IMAGE_SIDE)
    if ratio > 1:
        width, height = max(round(width / ratio), 1), max(round(height / ratio), 1)
    columns = (width - 1) // TOKEN_PIXELS + 1
    rows = (height - 1) // TOKEN_PIXELS + 1
    return rows * (columns + 1)


def decode_image(data: bytes, name: str = "image") -> tuple[Image, str]:
    """Validate and decode: (first frame as RGB/RGBA, source format). Raises ToolError."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise ToolError(
            f"{name} is {len(data):,} bytes; images are limited to {MAX_IMAGE_BYTES:,} bytes"
        )
    kind = sniff_format(data)
    if kind is None:
        raise ToolError(
            f"{name} is not a PNG, JPEG, WebP or GIF image (its first bytes say otherwise)"
        )
    # Dimensions are checked from the header, before any pixel is decoded (Pillow's own
    # decompression-bomb limit, a process-wide setting, is left as it is).
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            width, height = image.size
            _check_dimensions(name, width, height)
            image.seek(0)  # a GIF or animated WebP contributes its first frame
            image.load()
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            frame = image.convert("RGBA" if has_alpha else "RGB")
    except Image.DecompressionBombError as exc:
        raise ToolError(f"{name} is too large to decode safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ToolError(f"{name} could not be decoded as {kind}: {exc}") from exc
    return frame, kind


def _check_dimensions(name: str, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ToolError(f"{name} has no pixels ({width}x{height})")
    if max(width, height) > MAX_SIDE_PIXELS or width * height > MAX_IMAGE_PIXELS:
        raise ToolError(
            f"{name} is {width}x{height} px; images are limited to {MAX_SIDE_PIXELS} px a side "
            f"and {MAX_IMAGE_PIXELS:,} px in all"
        )


def image_store_dir(data_dir: Path | None) -> Path:
    """Where images live: with the session data, or a temporary folder without one."""
    base = data_dir if data_dir is not None else Path(tempfile.gettempdir()) / "tessera"
    return base / "images"


def store_image(data: bytes, store_dir: Path, name: str = "image") -> StoredImage:
    """Validate `data`, keep it as `<store_dir>/<sha256>.png`, and describe it."""
    frame, kind = decode_image(data, name)
    digest = hashlib.sha256(data).hexdigest()
    store_dir.mkdir(parents=True, exist_ok=True)
    target = store_dir / f"{digest}.png"
    if not target.exists():
        buffer = io.BytesIO()
        frame.save(buffer, format="PNG")
        write_atomically(target, buffer.getvalue(), mode=0o600)
    width, height = frame.size
    return StoredImage(
        sha256=digest,
        path=str(target),
        width=width,
        height=height,
        tokens=image_tokens(width, height),
        source_format=kind,
    )


def image_chunk(image: str | Path | bytes) -> ImageChunk:
    """A mistral-common ImageChunk for a stored image (path) or raw bytes (validated)."""
    from mistral_common.protocol.instruct.chunk import ImageChunk

    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    frame, _ = decode_image(data, "image" if isinstance(image, bytes) else str(image))
    return ImageChunk(image=frame)


def describe(stored: StoredImage, shown_as: str) -> str:
    return (
        f"{shown_as}: {stored.source_format} {stored.width}x{stored.height} px, "
        f"{stored.tokens} image tokens; attached to the conversation for you to see"
    )


class ViewImage(Tool):
    name = "view_image"
    description = (
        "Look at an image file in the repository (PNG, JPEG, WebP, or a GIF's first frame): "
        "the image is added to the conversation so you can see it."
    )
    side_effect = SideEffect.READ

    class Args(ToolArgs):
        path: str = Field(description="image path, relative to the repository root")

    def run(self, args: Args, ctx: ToolContext) -> ToolResult:
        path = resolve_in_repo(ctx.repo, args.path)
        shown = display_path(ctx.repo, path)
        if not path.is_file():
            raise ToolError(f"{shown} is not a file")
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ToolError(f"{shown} is {size:,} bytes; images are limited to {MAX_IMAGE_BYTES:,}")
        stored = store_image(path.read_bytes(), image_store_dir(ctx.data_dir), shown)
        return ToolResult(ok=True, text=describe(stored, shown), data=stored.as_data())


def attach_image(path: str | Path, data_dir: Path | None) -> StoredImage:
    """A user's attachment (`/image PATH`, a path typed in chat): same checks, any path."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise ToolError(f"{source} is not a file")
    if source.stat().st_size > MAX_IMAGE_BYTES:
        raise ToolError(f"{source} is larger than {MAX_IMAGE_BYTES:,} bytes")
    return store_image(source.read_bytes(), image_store_dir(data_dir), str(source))
