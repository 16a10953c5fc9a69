"""An editor's prompt blocks become one message: text, attached files inlined, images
stored like every attachment; what Tessera cannot take is refused by name."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from acp import helpers as h
from acp.schema import AudioContentBlock
from PIL import Image

from agent.acp.prompt import PromptError, prompt_input


def png(width: int = 32, height: int = 16) -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_text_files_and_links_make_one_message(tmp_path: Path) -> None:
    text, images = prompt_input([
        h.text_block("explain this"),
        h.resource_block(h.embedded_text_resource("file:///w/a.py", "x = 1\n")),
        h.resource_link_block("b.py", "file:///w/b%20c.py"),
    ], tmp_path)
    assert text == ('explain this\n\n<file uri="file:///w/a.py">\nx = 1\n\n</file>\n\n'
                    "[attached: /w/b c.py]")
    assert images == []


def test_images_are_stored_attachments(tmp_path: Path) -> None:
    text, images = prompt_input([h.text_block("what is this?"), h.image_block(png(), "image/png"),
                                 h.resource_block(h.embedded_blob_resource(
                                     "file:///w/shot.png", png(8, 8), mime_type="image/png"))],
                                tmp_path)
    assert text == "what is this?"
    assert [(i["width"], i["height"]) for i in images] == [(32, 16), (8, 8)]
    assert all(Path(i["path"]).is_file() and i["tokens"] > 0 for i in images)


@pytest.mark.parametrize(("block", "message"), [
    (AudioContentBlock(type="audio", data="AAAA", mime_type="audio/wav"), "audio"),
    (h.image_block("not base64!", "image/png"), "not valid base64"),
    (h.image_block(png(), "image/tiff"), "not an image type"),
    (h.resource_block(h.embedded_blob_resource("file:///w/a.bin", "AAAA",
                                               mime_type="application/zip")), "binary resource"),
    (h.text_block("   "), "empty"),
])
def test_what_cannot_be_taken_is_refused_by_name(tmp_path: Path, block: object,
                                                 message: str) -> None:
    with pytest.raises(PromptError, match=message):
        prompt_input([block], tmp_path)
