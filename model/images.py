"""Image preprocessing, done by mistral-common only (resize, normalise, [IMG] token layout)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def encode_image(model_dir: str | Path, image_path: str | Path) -> tuple[list[int], torch.Tensor]:
    """(the image's [IMG]/[IMG_BREAK]/[IMG_END] token ids, pixel tensor [C, H, W])."""
    import torch
    from mistral_common.protocol.instruct.chunk import ImageChunk
    from PIL import Image

    from model.tokenizer import load_tokenizer

    encoder = load_tokenizer(model_dir).instruct_tokenizer.image_encoder
    if encoder is None:
        raise ValueError(f"{model_dir}: the tokenizer has no image section (a text-only model)")
    with Image.open(image_path) as image:
        encoding = encoder(ImageChunk(image=image.convert("RGB")))
    return list(encoding.tokens), torch.from_numpy(encoding.image)
