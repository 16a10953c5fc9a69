from pathlib import Path

import pytest

from model.tiny import write_tiny


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory):
    """Write tiny checkpoints on demand, once per session: tiny_dirs(fmt, preset, vision, fp8)."""
    made: dict[tuple, Path] = {}

    def make(fmt: str = "hf", preset: str = "small", vision: bool = True,
             fp8: str | None = None, seed: int = 0) -> Path:
        key = (fmt, preset, vision, fp8, seed)
        if key not in made:
            out = tmp_path_factory.mktemp(f"{fmt}-{preset}-{'v' if vision else 't'}-{fp8}")
            write_tiny(out, fmt=fmt, vision=vision, seed=seed, preset=preset, fp8=fp8)
            made[key] = out
        return made[key]

    return make
