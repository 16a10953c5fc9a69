"""Token counts with the model's tokenizer (tekken, the vocabulary mistral-common ships).

Building the tokenizer from its JSON vocabulary costs about 1.5 CPU seconds, so:
counts of rendered map lines are kept in the tag cache (a warm map never needs the
tokenizer), and the BPE model inside mistral-common's Tekkenizer is kept pickled
beside the cache, which loads ten times faster. Both count exactly what
`Tekkenizer.encode` counts; the tests compare them.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from tools.atomic import write_atomically

if TYPE_CHECKING:
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

TEKKEN_VOCAB = "tekken_240911.json"
_load_lock = threading.Lock()
_counters: dict[Path | None, Callable[[str], int]] = {}


def vocab_path() -> Path:
    import mistral_common

    return Path(mistral_common.__file__).parent / "data" / TEKKEN_VOCAB


@cache
def _tokenizer() -> Tekkenizer:
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    return Tekkenizer.from_file(vocab_path())


def tokenizer() -> Tekkenizer:
    """mistral-common's Tekkenizer on the bundled vocabulary, loaded once per process."""
    with _load_lock:
        return _tokenizer()


def count_tokens(text: str) -> int:
    return len(tokenizer().encode(text, bos=False, eos=False))


def token_counter(cache_dir: Path | None = None) -> Callable[[str], int]:
    """A function counting tokens of a text, loaded as cheaply as `cache_dir` allows."""
    with _load_lock:
        if cache_dir not in _counters:
            _counters[cache_dir] = _load_counter(cache_dir)
        return _counters[cache_dir]


def _load_counter(cache_dir: Path | None) -> Callable[[str], int]:
    kept = _kept_model_path(cache_dir)
    if kept is not None and kept.exists():
        try:
            with open(kept, "rb") as handle:
                model = pickle.load(handle)
            return lambda text: len(model.encode(text))
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass  # rebuilt below
    full = _tokenizer()
    model = getattr(full, "_model", None)
    if kept is None or model is None or not hasattr(model, "encode"):
        return lambda text: len(full.encode(text, bos=False, eos=False))
    blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    with contextlib.suppress(OSError):  # only a speed-up: counting works without it
        write_atomically(kept, blob, mode=0o600, durable=False)
    return lambda text: len(model.encode(text))


def _kept_model_path(cache_dir: Path | None) -> Path | None:
    """Named after the vocabulary file's size and mtime, so a new wheel is noticed."""
    if cache_dir is None:
        return None
    try:
        stat = vocab_path().stat()
    except OSError:
        return None
    return Path(cache_dir) / f"tekken-bpe-{stat.st_size}-{stat.st_mtime_ns}.pickle"


def preload_in_background(cache_dir: Path | None = None) -> threading.Thread:
    thread = threading.Thread(
        target=token_counter, args=(cache_dir,), name="tekken-preload", daemon=True
    )
    thread.start()
    return thread


class LineTokenCounter:
    """Token counts of whole lines (each with its newline), memoised in `memo`.

    Tekken's pre-tokenizer never joins text across a newline unless the line ends in
    whitespace, so for stripped lines the count of a text is the sum of its lines'
    counts (the tests check this on a real map).
    """

    def __init__(self, memo: dict[str, int], cache_dir: Path | None = None) -> None:
        self.memo = memo
        self.cache_dir = cache_dir
        self.misses = 0

    def counts(self, lines: Sequence[str]) -> list[int]:
        missing = [line for line in dict.fromkeys(lines) if line not in self.memo]
        if missing:
            count = token_counter(self.cache_dir)
            for line in missing:
                self.memo[line] = count(line + "\n")
            self.misses += len(missing)
        return [self.memo[line] for line in lines]
