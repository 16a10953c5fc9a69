"""An editor's prompt (ACP content blocks) as a Tessera message: its text, with the files
the editor attached inlined, and its images stored like any other attachment.

Text blocks are the message. An embedded text resource (a file or a selection the user
attached) is added as a `<file uri=…>` block, so the model sees exactly what the editor
holds; a resource link names the file for the model to read itself; images (inline, or
an embedded image resource) go through `agent.attachments`, the path every attachment
takes. Anything else (audio, a binary file that is not an image) is refused by name,
since we do not advertise it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from acp.schema import (
    BlobResourceContents,
    EmbeddedResourceContentBlock,
    ImageContentBlock,
    ResourceContentBlock,
    TextContentBlock,
    TextResourceContents,
)

from agent.attachments import IMAGE_SUFFIXES, AttachmentError, attach


class PromptError(ValueError):
    """A prompt block we cannot take; the message says which and why."""


def prompt_input(blocks: list[Any], data_dir: Path) -> tuple[str, list[dict[str, Any]]]:
    """The message text and stored images of an ACP prompt. Raises PromptError."""
    parts: list[str] = []
    images: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, ImageContentBlock):
            images.append(_image(block.data, block.mime_type, f"image block {index}", data_dir))
        elif isinstance(block, EmbeddedResourceContentBlock):
            resource = block.resource
            if isinstance(resource, TextResourceContents):
                parts.append(f'<file uri="{resource.uri}">\n{resource.text}\n</file>')
            elif isinstance(resource, BlobResourceContents) and _is_image(resource.mime_type):
                images.append(_image(resource.blob, resource.mime_type or "",
                                     resource.uri, data_dir))
            else:
                raise PromptError(
                    f"block {index} ({resource.uri}) is a binary resource of type "
                    f"{getattr(resource, 'mime_type', None) or 'unknown'}; only text files and "
                    "images can be attached"
                )
        elif isinstance(block, ResourceContentBlock):
            parts.append(f"[attached: {_path_of(block.uri)}]")
        else:
            raise PromptError(
                f"block {index} is {getattr(block, 'type', type(block).__name__)!s} content, "
                "which Tessera does not take (text, images and files only)"
            )
    text = "\n\n".join(part for part in parts if part)
    if not text.strip() and not images:
        raise PromptError("the prompt is empty")
    return text, images


def _is_image(mime_type: str | None) -> bool:
    return bool(mime_type) and mime_type.startswith("image/")  # type: ignore[union-attr]


def _image(data: str, mime_type: str, name: str, data_dir: Path) -> dict[str, Any]:
    """Decode a base64 image to a file and attach it (validated, stored by content)."""
    suffix = mimetypes.guess_extension(mime_type or "") or ""
    if suffix not in IMAGE_SUFFIXES:
        raise PromptError(f"{name}: {mime_type or 'no type'} is not an image type Tessera "
                          f"reads ({', '.join(IMAGE_SUFFIXES)})")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PromptError(f"{name}: the image data is not valid base64") from exc
    incoming = data_dir / "acp-images"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / (hashlib.sha256(raw).hexdigest()[:16] + suffix)
    path.write_bytes(raw)
    try:
        return attach([path], data_dir)[0]
    except AttachmentError as exc:
        raise PromptError(f"{name}: {exc}") from exc


def _path_of(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri
