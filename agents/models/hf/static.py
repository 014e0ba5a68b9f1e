"""Static-cache decoding: the path on which transformers compiles the decode step.

On a GPU the engine's default path (a growing dynamic cache, one Python
forward per token) ran 4-6x slower than transformers' own static cache with
its compiled decode step (H200 figures in docs/benchmarks.md). `generate`
compiles the step by itself on CUDA when it is given a compileable cache, so
this module gives the engine such a cache, shaped so that few compilations
serve every request:

- The cache length is rounded up to a bucket (1024, 2048, ... up to the
  model's window), and caches are kept per (rows, length) and reset, not
  rebuilt, between calls: the compiled step and its CUDA graphs keep seeing
  the same tensors at the same addresses.
- A prompt prefix every row shares is still read once: it is prefilled at
  batch 1 into a small dynamic cache and copied into each row's slots.

Everything here also runs on CPU, uncompiled, which is how the tests prove it
decodes the same tokens as transformers' own `generate`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import torch
from transformers import DynamicCache, StaticCache
from transformers.cache_utils import StaticLayer

from agents.models.hf.decode import read_prefix

log = logging.getLogger(__name__)

#: The smallest cache length; lengths are this times a power of two.
MIN_CACHE_LEN = 1024
#: Most cache shapes kept at once (each holds a whole batch's keys and values).
MAX_SHAPES = 4


def cache_length(need: int, window: int) -> int:
    """The cache length for `need` tokens: the next bucket, capped at the model's window.

    A request longer than the window still gets room for all its tokens.
    """
    bucket = MIN_CACHE_LEN
    while bucket < need:
        bucket *= 2
    return max(need, min(bucket, window))


def supports_static(model: Any) -> bool:
    """True when every layer of the model's static cache is a plain full-attention layer.

    Sliding-window and hybrid models keep the dynamic path: copying a shared
    prefix into their ring-buffer layers would need their own bookkeeping.
    """
    try:
        probe = StaticCache(config=model.config, max_cache_len=8)  # layers allocate lazily: no memory
    except (TypeError, ValueError, AttributeError):
        return False
    return all(type(layer) is StaticLayer for layer in probe.layers)


class StaticCaches:
    """Static caches reused across calls, one per (rows, length) shape; the least recently used goes first."""

    def __init__(self, model: Any, window: int) -> None:
        self.model = model
        self.window = window
        self._caches: OrderedDict[tuple[int, int], StaticCache] = OrderedDict()
        self.shapes_used: list[tuple[int, int]] = []  # observable: each shape the first time it was used

    def get(self, rows: int, need: int) -> tuple[StaticCache, bool]:
        """An empty cache for `rows` rows of `need` tokens, and whether this shape is new here.

        On CUDA a new shape means the decode step is compiled (or its graph
        recorded) inside the next `generate` call.
        """
        shape = (rows, cache_length(need, self.window))
        cache = self._caches.pop(shape, None)
        fresh = cache is None
        if cache is None:
            cache = StaticCache(config=self.model.config, max_cache_len=shape[1])
            if shape not in self.shapes_used:
                self.shapes_used.append(shape)
            while len(self._caches) >= MAX_SHAPES:
                self._caches.popitem(last=False)
        else:
            # The tensors were made under inference mode; only there may they change in place.
            with torch.inference_mode():
                cache.reset()
        self._caches[shape] = cache
        return cache, fresh

    def clear(self) -> None:
        """Drop every cache (the engine is unloading)."""
        self._caches.clear()


def prefill_shared_static(model: Any, cache: StaticCache, prefix: torch.Tensor, rows: int) -> None:
    """Read a prefix every row shares once (`prefix`: one row), then copy it into each row's slots."""
    once = DynamicCache(config=model.config)
    read_prefix(model, once, prefix)
    length = prefix.shape[1]
    with torch.inference_mode():
        for layer, read in zip(cache.layers, once.layers, strict=True):
            static: Any = layer  # a StaticLayer (see `supports_static`)
            keys = read.keys.expand(rows, -1, -1, -1)  # type: ignore[union-attr]
            values = read.values.expand(rows, -1, -1, -1)  # type: ignore[union-attr]
            if not static.is_initialized:
                # Shapes, dtype and device come from the prefix; the batch is the whole batch.
                static.lazy_initialization(keys, values)
            static.keys[:, :, :length].copy_(keys)
            static.values[:, :, :length].copy_(values)
            # In place: the compiled step holds this tensor's address.
            static.cumulative_length.fill_(length)
