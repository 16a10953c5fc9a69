"""Token counts with the model's tokenizer (tekken, the vocabulary mistral-common ships).

Loading the vocabulary takes a second or two, so it is loaded once per process, can be
started in the background while files parse, and rendered map lines keep their counts
in the tag cache: a warm map never loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

TEKKEN_VOCAB = "tekken_240911.json"
_load_lock = threading.Lock()


def vocab_path() -> Path:
    import mistral_common

    return Path(mistral_common.__file__).parent / "data" / TEKKEN_VOCAB


@cache
def _tokenizer() -> Tekkenizer:
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    return Tekkenizer.from_file(vocab_path())


def tokenizer() -> Tekkenizer:
    with _load_lock:  # a background preload and a caller must not load it twice
        return _tokenizer()


def preload_in_background() -> threading.Thread:
    thread = threading.Thread(target=tokenizer, name="tekken-preload", daemon=True)
    thread.start()
    return thread


def count_tokens(text: str) -> int:
    return len(tokenizer().encode(text, bos=False, eos=False))


class LineTokenCounter:
    """Token counts of whole lines (each with its newline), memoised in `memo`.

    Tekken's pre-tokenizer never joins text across a newline unless the line ends in
    whitespace, so for stripped lines the count of a text is the sum of its lines'
    counts (the tests check this on a real map).
    """

    def __init__(self, memo: dict[str, int]) -> None:
        self.memo = memo
        self.misses = 0

    def counts(self, lines: Sequence[str]) -> list[int]:
        missing = [line for line in dict.fromkeys(lines) if line not in self.memo]
        if missing:
            encoder = tokenizer()
            for line in missing:
                self.memo[line] = len(encoder.encode(line + "\n", bos=False, eos=False))
            self.misses += len(missing)
        return [self.memo[line] for line in lines]
