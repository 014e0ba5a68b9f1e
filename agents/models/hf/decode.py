"""Engine speed-ups: small-batch decoding on CPU and prompt prefixes a batch shares.

Decoding a batch of two cost ~1.5 times one request on a 2-core CPU
(`bench/models.py`), where it should cost barely more, and experts asked
together read the same long prompt once each. Three fixes:

- MKL picks a slow kernel for ``F.linear`` with one or two rows: a decoding
  step's matmuls ran at ~half the memory bandwidth, and two rows cost twice
  one. Computing ``W @ x.T`` instead reads the weights once for every row.
  `use_small_batch_matmul` times both forms on the model's largest weight when
  the engine loads and swaps in the faster one only where it wins.
- `transformers.DynamicCache` appends each token by ``torch.cat``, copying the
  whole cache of every layer at every step. `GrowingCache` writes into a
  buffer sized for the prompt plus the reply.
- Requests that begin with the same tokens (the council's experts all read
  the same passages first) need that prefix read once, not once per row:
  `shared_prefix_length` finds it and the engine prefills it once.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache
from transformers.cache_utils import Cache, DynamicLayer
from typing_extensions import override

from tools.settings_registry import BY_NAME

log = logging.getLogger(__name__)

#: ``0`` turns every speed-up here off (to rule them out when debugging a model).
FAST_DECODE: bool = BY_NAME["hf_fast_decode"].from_env()
#: Shared prompt prefixes shorter than this are not worth a separate forward pass.
MIN_SHARED_PREFIX = 32
#: Own prompt tokens each row keeps after a shared prefix: two, so that the rows' own part is
#: read as a prompt (several positions) like the whole prompt of a request alone; int8 layers
#: read one position as a decoding step, with other rounding (see quantize.py).
MIN_OWN = 2


class SmallBatchLinear(nn.Linear):
    """``nn.Linear`` that computes ``W @ x.T`` when at most `max_rows` rows come in.

    Decoding feeds one row per request; prefill feeds hundreds and keeps
    ``F.linear``. A single row is padded to two with zeros, because a
    one-column product falls back to the same slow path.
    """

    max_rows = 0

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        if not 0 < rows <= self.max_rows:
            return F.linear(x, self.weight, self.bias)
        return _rows_first(self.weight, x.reshape(rows, x.shape[-1]), self.bias).reshape(*x.shape[:-1], -1)


def _rows_first(weight: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    rows = x.shape[0]
    if rows == 1:
        x = torch.cat([x, torch.zeros_like(x)])
    # Contiguous output: attention's fast kernel needs a unit stride on the last dimension.
    y = (weight @ x.t())[:, :rows].t().contiguous()
    return y if bias is None else y + bias


def _best_seconds(fn: Callable[[], Any], reps: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def use_small_batch_matmul(model: nn.Module, max_batch: int) -> int:
    """Swap the model's linear layers to `SmallBatchLinear` where that is faster here.

    Times both forms on the largest weight (the one that streams from memory,
    as every weight does while decoding) for 1, 2, 4, ... rows up to
    `max_batch`, and enables the swap for batches up to the largest size
    where it won at every size below. Returns that size (0: not used).
    """
    linears = [m for m in model.modules() if type(m) is nn.Linear and m.weight.device.type == "cpu"]
    if not FAST_DECODE or not linears:
        return 0
    weight = max(linears, key=lambda m: m.weight.numel()).weight
    max_rows = 0
    with torch.inference_mode():
        rows = 1
        while rows <= max_batch:
            x = torch.randn(rows, weight.shape[1], dtype=weight.dtype)
            plain = _best_seconds(partial(F.linear, x, weight))
            swapped = _best_seconds(partial(_rows_first, weight, x, None))
            log.debug("rows=%d: F.linear %.2f ms, W @ x.T %.2f ms", rows, plain * 1e3, swapped * 1e3)
            if swapped >= plain:
                break
            max_rows = rows
            rows *= 2
    if max_rows:
        # The class is shared by all of this model's layers; one model per engine.
        cls = type("SmallBatchLinear", (SmallBatchLinear,), {"max_rows": max_rows})
        for module in linears:
            module.__class__ = cls
    return max_rows


class GrowingLayer(DynamicLayer):
    """A `DynamicLayer` that writes new keys and values into a preallocated buffer."""

    capacity = 256

    @override
    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._len = 0

    @override
    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]
        end = self._len + new
        if self._k is None or self._v is None or end > self._k.shape[-2]:
            self._grow(key_states, value_states, max(self.capacity, 2 * end if self._k is not None else end))
        assert self._k is not None and self._v is not None
        self._k[..., self._len : end, :] = key_states
        self._v[..., self._len : end, :] = value_states
        self._len = end
        return self._views()

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, capacity: int) -> None:
        keys = key_states.new_empty((*key_states.shape[:2], capacity, key_states.shape[-1]))
        values = value_states.new_empty((*value_states.shape[:2], capacity, value_states.shape[-1]))
        if self._k is not None and self._v is not None and self._len:
            keys[..., : self._len, :] = self._k[..., : self._len, :]
            values[..., : self._len, :] = self._v[..., : self._len, :]
        self._k, self._v = keys, values

    def _views(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self._k is not None and self._v is not None
        self.keys = keys = self._k[..., : self._len, :]
        self.values = values = self._v[..., : self._len, :]
        return keys, values

    @override
    def get_seq_length(self) -> int:
        return self._len if self.is_initialized else 0

    @override
    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized and self._k is not None and self._v is not None:
            self._k = self._k.repeat_interleave(repeats, dim=0)
            self._v = self._v.repeat_interleave(repeats, dim=0)
            self._views()

    @override
    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized and self._k is not None and self._v is not None:
            self._k, self._v = self._k[indices, ...], self._v[indices, ...]
            self._views()

    @override
    def reset(self) -> None:
        self._k = self._v = None
        self._len = 0
        super().reset()

    @override
    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove < 0 and self.is_initialized:
            self._len = max(0, self._len + tokens_to_remove)
            self._views()
        else:
            super().crop(tokens_to_remove)


class GrowingCache(DynamicCache):
    """A `DynamicCache` of `GrowingLayer`s sized for `capacity` tokens."""

    def __init__(self, capacity: int) -> None:
        layer_class = type("GrowingLayer", (GrowingLayer,), {"capacity": capacity})
        Cache.__init__(self, layer_class_to_replicate=layer_class)


def new_cache(model: Any, capacity: int) -> DynamicCache:
    """A cache for one generate call: growing where the model's layers all attend fully."""
    plain = DynamicCache(config=model.config)
    if FAST_DECODE and all(type(layer) is DynamicLayer for layer in plain.layers):
        return GrowingCache(capacity)
    # Sliding-window and hybrid models keep transformers' own layer types.
    return plain


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens every row starts with, leaving each row at least `MIN_OWN` tokens of its own.

    Returns 0 for a single row or when the shared part is under `MIN_SHARED_PREFIX`.
    """
    if len(rows) < 2 or not FAST_DECODE:
        return 0
    limit = min(len(r) for r in rows) - MIN_OWN
    n = 0
    first = rows[0]
    while n < limit and all(r[n] == first[n] for r in rows[1:]):
        n += 1
    return n if n >= MIN_SHARED_PREFIX else 0


def batch_layout(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Input ids, attention mask and shared prefix length for one batch.

    Each row is the shared prefix, padding, then its own tokens: every row's
    last prompt token sits at the end (plain left padding when nothing is
    shared), and models take positions from the attention mask.
    """
    shared = shared_prefix_length(prompts)
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, prompt in enumerate(prompts):
        ids[i, :shared] = torch.tensor(prompt[:shared], dtype=torch.long)
        mask[i, :shared] = 1
        own = len(prompt) - shared
        ids[i, width - own :] = torch.tensor(prompt[shared:], dtype=torch.long)
        mask[i, width - own :] = 1
    return ids, mask, shared


def greedy_tokens(
    model: Any, ids: torch.Tensor, new: int, pad_id: int, cache: Cache | None = None
) -> torch.Tensor:
    """Exactly `new` greedy tokens after each row of `ids` (no padding, EOS held back); the new ids.

    For measuring: every call does the same work, whatever the model would say.
    """
    # Without a cache of the caller's, generate makes its own default one.
    extra = {} if cache is None else {"cache": cache}
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad_id,
            **extra,
        )
    return out[:, ids.shape[1] :]


def read_prefix(model: Any, cache: Cache, prefix: torch.Tensor) -> None:
    """Run the model over `prefix` (one row) only to fill `cache` with its keys and values."""
    # Only the prefix's keys and values are needed, not its logits over the vocabulary.
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    with torch.inference_mode():
        model(input_ids=prefix, cache=cache, use_cache=True, **extra)


def prefill_shared(model: Any, cache: DynamicCache, prefix: torch.Tensor, rows: int) -> None:
    """Read a prefix every row shares once (`prefix`: one row), then copy its cache to each row."""
    read_prefix(model, cache, prefix)
    cache.batch_repeat_interleave(rows)
