"""Loading a model is announced once, in our own words: transformers' progress bars stay off.

transformers draws a "Loading weights" bar on every `from_pretrained`, even for a
135M chat model or the embedding model, which load in a second. On the CLI it cut
through the live output (and through `--quiet`); on a server it filled the log.
The CLI's spinner and the engine's log line already say what is loading.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = True


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """Turn transformers' progress bars off inside the block, then restore what was set.

    Engines load on their own threads, so nested and concurrent blocks count: the
    bars come back only when the last block ends, and only if they were on before.
    """
    from transformers.utils import logging as hf_logging

    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                hf_logging.enable_progress_bar()
