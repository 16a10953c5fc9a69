"""The v15 tekken tokenizer for tiny checkpoints and tests, and the ONE special-token table.

mistral-common's wheel ships the v3 tekken vocabulary (`tekken_240911.json`) but no v15 file.
We build one from that vocabulary: version v15, the special-token table below, an image section
when the model has vision, and a model-settings builder that allows reasoning effort none/high.

The ranks of `[ARGS]`, `[CALL_ID]`, `[THINK]`, `[/THINK]`, `[MODEL_SETTINGS]` and
`[/MODEL_SETTINGS]` in the released tokenizer are not known to us; those below follow the
published v13 (Magistral/Devstral) layout for the first four and take free slots for the last
two. Nothing else in Tessera may hard-code a special token's id: look it up in the tokenizer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

NUM_SPECIAL_TOKENS = 1000

# rank → token string. Ranks 0–19 are tekken's historical table (mistral-common's
# Tekkenizer.DEPRECATED_SPECIAL_TOKENS); the rest is the v13+/v15 additions.
SPECIAL_TOKENS: dict[int, str] = {
    0: "<unk>",
    1: "<s>",
    2: "</s>",
    3: "[INST]",
    4: "[/INST]",
    5: "[AVAILABLE_TOOLS]",
    6: "[/AVAILABLE_TOOLS]",
    7: "[TOOL_RESULTS]",
    8: "[/TOOL_RESULTS]",
    9: "[TOOL_CALLS]",
    10: "[IMG]",
    11: "<pad>",
    12: "[IMG_BREAK]",
    13: "[IMG_END]",
    14: "[PREFIX]",
    15: "[MIDDLE]",
    16: "[SUFFIX]",
    17: "[SYSTEM_PROMPT]",
    18: "[/SYSTEM_PROMPT]",
    19: "[TOOL_CONTENT]",
    32: "[ARGS]",
    33: "[CALL_ID]",
    34: "[THINK]",
    35: "[/THINK]",
    36: "[MODEL_SETTINGS]",
    37: "[/MODEL_SETTINGS]",
}

REASONING_EFFORTS = ("none", "high")
TEKKEN_VOCAB = "tekken_240911.json"


def _special_token_list() -> list[dict[str, Any]]:
    return [
        {"rank": rank, "token_str": SPECIAL_TOKENS.get(rank, f"<SPECIAL_{rank}>"),
         "is_control": True}
        for rank in range(NUM_SPECIAL_TOKENS)
    ]


def build_v15_tekken(vocab_size: int, image: dict[str, int] | None = None) -> dict[str, Any]:
    """The tekken.json content for a v15 tokenizer of `vocab_size` ids (specials included).

    `vocab_size` may be smaller than the real 131072: the regular vocabulary is then the first
    `vocab_size - 1000` byte-level BPE ranks, which still encode any text (the first 256 are
    single bytes).
    """
    import mistral_common

    if vocab_size < NUM_SPECIAL_TOKENS + 256:
        raise ValueError(f"vocab_size {vocab_size} leaves no room for the 256 byte tokens")
    source = Path(mistral_common.__file__).parent / "data" / TEKKEN_VOCAB
    data = json.loads(source.read_text(encoding="utf-8"))
    regular = vocab_size - NUM_SPECIAL_TOKENS
    if regular > len(data["vocab"]):
        raise ValueError(f"vocab_size {vocab_size} exceeds the bundled vocabulary")
    tekken: dict[str, Any] = {
        "config": {
            "pattern": data["config"]["pattern"],
            "num_vocab_tokens": regular,
            "default_vocab_size": vocab_size,
            "default_num_special_tokens": NUM_SPECIAL_TOKENS,
            "version": "v15",
        },
        "vocab": data["vocab"][:regular],
        "special_tokens": _special_token_list(),
        "model_settings_builder": {
            "reasoning_effort": {
                "type": "enum",
                "accepts_none": True,
                "default": "none",
                "values": list(REASONING_EFFORTS),
            }
        },
    }
    if image is not None:
        tekken["image"] = dict(image)
    return tekken


def write_v15_tekken(path: Path, vocab_size: int, image: dict[str, int] | None = None) -> None:
    path.write_text(json.dumps(build_v15_tekken(vocab_size, image)), encoding="utf-8")


def load_tokenizer(model_dir: str | Path) -> MistralTokenizer:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    path = Path(model_dir) / "tekken.json"
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir}: no tekken.json")
    return MistralTokenizer.from_file(str(path))


def special_id(tokenizer: MistralTokenizer, token: str) -> int:
    """The id of a special token in this tokenizer (never hard-code ids)."""
    raw = tokenizer.instruct_tokenizer.tokenizer
    return raw.get_special_token(token)
