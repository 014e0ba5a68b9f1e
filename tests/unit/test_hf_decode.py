"""CPU decoding speed-ups in decode.py, on a tiny randomly initialised Llama (no weights, no sockets).

Each speed-up must leave the numbers alone: a growing cache gives the same
tokens as transformers' own, a shared prefix read once gives each row the
tokens it gets alone, and the small-batch matmul matches ``F.linear``.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

from agents.models.hf import decode
from agents.models.hf.decode import (
    MIN_SHARED_PREFIX,
    GrowingCache,
    SmallBatchLinear,
    batch_layout,
    new_cache,
    prefill_shared,
    shared_prefix_length,
    use_small_batch_matmul,
)
from tests.hf_engine_helpers import greedy_rows, hand_driven_engine, tiny_llama

PAD = 0


@pytest.fixture(scope="module")
def tiny() -> LlamaForCausalLM:
    return tiny_llama()


def _greedy(model, ids: torch.Tensor, mask: torch.Tensor, new: int, cache=None) -> list[list[int]]:
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            pad_token_id=PAD,
            cache=cache if cache is not None else DynamicCache(),
        )
    return out[:, ids.shape[1] :].tolist()


def _alone(model, prompt: list[int], new: int) -> list[int]:
    ids = torch.tensor([prompt])
    return _greedy(model, ids, torch.ones_like(ids), new)[0]


def test_growing_cache_gives_the_tokens_of_the_dynamic_cache(tiny):
    prompt = list(range(3, 40))
    ids = torch.tensor([prompt])
    # A capacity far too small forces the buffer to grow twice mid-generation.
    grown = _greedy(tiny, ids, torch.ones_like(ids), 40, GrowingCache(capacity=8))
    assert grown == [_alone(tiny, prompt, 40)]


def test_growing_cache_reports_length_and_grows_in_place():
    cache = GrowingCache(capacity=4)
    k = torch.randn(2, 1, 3, 8)
    keys, _ = cache.update(k, k.clone(), 0)
    assert keys.shape[-2] == 3 and cache.get_seq_length() == 3
    keys, values = cache.update(k[..., :2, :], k[..., :2, :], 0)  # 5 > 4: grows
    assert (
        cache.get_seq_length() == 5
        and torch.equal(keys[..., :3, :], k)
        and torch.equal(values[..., 3:, :], k[..., :2, :])
    )
    cache.crop(-2)
    assert cache.get_seq_length() == 3
    cache.batch_repeat_interleave(2)
    assert cache.layers[0].keys.shape == (4, 1, 3, 8)


def test_new_cache_grows_only_for_full_attention_models(tiny):
    assert isinstance(new_cache(tiny, 64), GrowingCache)
    sliding = LlamaConfig(num_hidden_layers=2, hidden_size=16, intermediate_size=16, num_attention_heads=2)
    sliding.sliding_window = 8
    sliding.layer_types = ["sliding_attention", "full_attention"]

    class Stub:
        config = sliding

    assert not isinstance(new_cache(Stub(), 64), GrowingCache)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([list(range(100))], 0),  # one row: nothing to share
        ([list(range(100)), [*range(10), *[0] * 90]], 0),  # below MIN_SHARED_PREFIX
        ([list(range(100)), [*range(60), *[0] * 5]], 60),
        ([list(range(50)), list(range(50))], 48),  # identical rows keep two tokens each (MIN_OWN)
        ([list(range(80)), [*range(70), 1], [*range(40), 2]], 39),  # the last row keeps 2 own tokens
        ([list(range(80)), [*range(70), 1], [*range(40), 2, 3]], 40),
    ],
)
def test_shared_prefix_length(rows, expected):
    assert shared_prefix_length(rows) == expected


def test_shared_prefix_length_is_off_with_fast_decode_off(monkeypatch):
    monkeypatch.setattr(decode, "FAST_DECODE", False)
    assert shared_prefix_length([list(range(100)), list(range(100))]) == 0


def test_a_prefix_read_once_gives_each_row_its_own_tokens(tiny):
    """The engine's layout: prefix, padding, each row's own tokens; the prefix prefilled once."""
    prefix = [(7 * i) % 90 + 3 for i in range(MIN_SHARED_PREFIX + 8)]
    prompts = [[*prefix, 5, 6, 7], [*prefix, *range(10, 30)]]
    ids, mask, shared = batch_layout(prompts, PAD)
    assert shared == len(prefix) and ids.shape == (2, shared + 20)
    assert mask[0].tolist() == [1] * shared + [0] * 17 + [1] * 3
    cache = new_cache(tiny, ids.shape[1] + 12)
    prefill_shared(tiny, cache, ids[:1, :shared], 2)
    assert cache.get_seq_length() == shared
    assert _greedy(tiny, ids, mask, 12, cache) == [_alone(tiny, p, 12) for p in prompts]


def test_engine_generation_raises_no_future_warning_and_matches_greedy(tiny):
    """The engine's own generate call (shared prefix prefilled, cache passed in) under transformers 5.x.

    Passing the cache as ``past_key_values`` printed a FutureWarning on every
    run, even with ``--quiet``; here any FutureWarning fails the test.
    """
    engine = hand_driven_engine(tiny)
    prefix = [(5 * i) % 90 + 3 for i in range(MIN_SHARED_PREFIX + 4)]
    prompts = [[*prefix, 9, 8], [*prefix, *range(20, 31)]]
    rows = greedy_rows(prompts, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        engine._generate(rows)
    assert engine.shared_prefix_tokens == len(prefix)
    assert [row.ids for row in rows] == [_alone(tiny, p, 6) for p in prompts]


def test_without_a_shared_prefix_the_layout_is_left_padding():
    ids, mask, shared = batch_layout([[5, 6, 7], [8, 9]], PAD)
    assert shared == 0
    assert ids.tolist() == [[5, 6, 7], [PAD, 8, 9]] and mask.tolist() == [[1, 1, 1], [0, 1, 1]]


@pytest.mark.parametrize("rows", [1, 2, 3, 8, 9, 40])
def test_small_batch_linear_matches_f_linear(rows):
    torch.manual_seed(rows)
    layer = nn.Linear(24, 40)
    expected = F.linear(x := torch.randn(rows, 1, 24), layer.weight, layer.bias)
    layer.__class__ = type("Fast", (SmallBatchLinear,), {"max_rows": 8})
    got = layer(x)
    assert got.shape == expected.shape and got.is_contiguous()
    torch.testing.assert_close(got, expected)


def _linears(model) -> set[type]:
    return {type(m) for m in model.modules() if isinstance(m, nn.Linear)}


def test_small_batch_matmul_is_swapped_in_only_where_it_wins(monkeypatch):
    torch.manual_seed(0)
    # Timed calls alternate F.linear, W @ x.T per batch size: the swap wins at 1 and 2, loses at 4.
    times = iter([2.0, 1.0, 2.0, 1.0, 1.0, 2.0])
    monkeypatch.setattr(decode, "_best_seconds", lambda fn, reps=3: next(times))
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 4))
    assert use_small_batch_matmul(model, max_batch=8) == 2
    (cls,) = _linears(model)
    assert issubclass(cls, SmallBatchLinear) and cls.max_rows == 2

    monkeypatch.setattr(decode, "_best_seconds", lambda fn, reps=3: 1.0)  # a tie: keep F.linear
    plain = nn.Sequential(nn.Linear(8, 8))
    assert use_small_batch_matmul(plain, max_batch=8) == 0
    assert _linears(plain) == {nn.Linear}

    monkeypatch.setattr(decode, "FAST_DECODE", False)
    assert use_small_batch_matmul(nn.Sequential(nn.Linear(8, 8)), max_batch=8) == 0
