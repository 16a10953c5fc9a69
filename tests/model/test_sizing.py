"""The CPU-server sizing of the released checkpoint, computed from the real config."""

from __future__ import annotations

from model.sizing import DOCS, real_config, render, sizing


def test_figures_follow_from_the_real_config():
    s = sizing(real_config())
    # ~119B parameters, ~6.6B active per token (model.md); FP8 halves the resident bytes.
    assert 115e9 < s.all_bf16_bytes / 2 < 122e9
    assert 6.3e9 < s.active_bytes < 7.0e9
    assert s.resident_bytes < 0.52 * s.all_bf16_bytes
    assert s.latent_kv_per_token == 36 * (256 + 64) * 2
    assert s.full_kv_per_token == 36 * 32 * (128 + 128) * 2


def test_the_committed_page_is_what_the_code_writes():
    config = real_config()
    assert DOCS.read_text() == render(sizing(config), config)
