"""The static-cache decoding path and its measured choice, on a tiny random Llama (CPU, no sockets).

The static path is what transformers compiles on a GPU; on CPU it runs
uncompiled, which is where these tests prove its numbers: the engine's rows
equal transformers' own greedy `generate`, alone and batched with a shared
prefix, and a reused cache gives the same tokens as a fresh one.
"""

import json

import pytest
import torch
from transformers import DynamicCache, LlamaForCausalLM, StaticCache

from agents.models.hf import decode_mode
from agents.models.hf.decode import MIN_SHARED_PREFIX, batch_layout, greedy_tokens
from agents.models.hf.decode_mode import DecodeChoice, choose
from agents.models.hf.static import (
    MAX_SHAPES,
    StaticCaches,
    cache_length,
    prefill_shared_static,
    supports_static,
)
from tests.hf_engine_helpers import greedy_rows, hand_driven_engine, tiny_llama, tiny_mistral

PAD = 0


@pytest.fixture(scope="module")
def tiny() -> LlamaForCausalLM:
    return tiny_llama(vocab_size=300, max_position_embeddings=4096)


def _choose(
    model, verdicts=None, setting: str | None = "auto", key: tuple[str, ...] = ("m",)
) -> DecodeChoice:
    """`choose` for `model` on the CPU, with a fresh set of static caches."""
    return choose(
        model, "cpu", PAD, StaticCaches(model, 4096), engine_key=key, verdicts=verdicts, setting=setting
    )


def _alone(model, prompt: list[int], new: int) -> list[int]:
    """transformers' own greedy generate with its default (dynamic) cache."""
    return greedy_tokens(model, torch.tensor([prompt]), new, PAD, DynamicCache())[0].tolist()


@pytest.mark.parametrize(
    ("need", "window", "expected"),
    [
        (10, 8192, 1024),
        (1024, 8192, 1024),
        (1025, 8192, 2048),
        (5000, 8192, 8192),
        (5000, 4096, 5000),
        (300, 512, 512),
    ],
)
def test_cache_length_rounds_up_to_a_bucket_within_the_window(need, window, expected):
    assert cache_length(need, window) == expected


def test_full_attention_models_support_static_and_sliding_ones_do_not(tiny):
    assert supports_static(tiny)
    assert not supports_static(tiny_mistral(sliding_window=8))


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_the_engine_alone_gives_transformers_greedy_tokens(tiny, mode):
    prompt = [(11 * i) % 250 + 3 for i in range(40)]
    engine = hand_driven_engine(tiny, mode)
    rows = greedy_rows([prompt], 24)
    engine._generate(rows)
    assert rows[0].ids == _alone(tiny, prompt, 24)


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_a_batch_with_a_shared_prefix_gives_each_row_its_own_tokens(tiny, mode):
    prefix = [(5 * i) % 250 + 3 for i in range(MIN_SHARED_PREFIX + 6)]
    prompts = [[*prefix, 9, 8], [*prefix, *range(20, 41)], [*prefix, 77, 78]]
    engine = hand_driven_engine(tiny, mode)
    rows = greedy_rows(prompts, 12)
    engine._generate(rows)
    assert engine.shared_prefix_tokens == len(prefix)
    assert [row.ids for row in rows] == [_alone(tiny, p, 12) for p in prompts]


def test_a_reused_static_cache_gives_the_tokens_of_a_fresh_one(tiny):
    """Caches are reset, not rebuilt, between calls (the compiled step keeps their addresses)."""
    engine = hand_driven_engine(tiny, "static")
    first, second = [list(range(3, 50))], [list(range(60, 90))]
    for prompts in (first, second, first):
        rows = greedy_rows(prompts, 10)
        engine._generate(rows)
        assert rows[0].ids == _alone(tiny, prompts[0], 10)
    assert engine._static.shapes_used == [(1, 1024)]


def test_static_caches_keep_one_per_shape_and_evict_the_oldest(tiny):
    caches = StaticCaches(tiny, 1 << 16)
    first, fresh = caches.get(1, 10)
    assert fresh
    again, fresh = caches.get(1, 900)
    assert again is first and not fresh  # same bucket: reused
    for rows in range(2, MAX_SHAPES + 2):
        caches.get(rows, 10)
    assert len(caches._caches) == MAX_SHAPES
    assert caches.get(1, 10)[0] is not first  # evicted, then built anew


def test_a_shared_prefix_is_copied_into_every_row(tiny):
    prefix = torch.tensor([list(range(3, 3 + MIN_SHARED_PREFIX))])
    cache = StaticCache(config=tiny.config, max_cache_len=64)
    prefill_shared_static(tiny, cache, prefix, 3)
    assert int(cache.get_seq_length()) == MIN_SHARED_PREFIX
    keys = cache.layers[0].keys
    assert keys.shape[0] == 3
    assert torch.equal(keys[0, :, :MIN_SHARED_PREFIX], keys[2, :, :MIN_SHARED_PREFIX])
    assert not keys[:, :, MIN_SHARED_PREFIX:].any()


def test_auto_measures_both_paths_and_remembers_the_verdict(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(
        decode_mode, "machine_busy", lambda: False
    )  # the test box's load is not the point here
    verdicts = tmp_path / "decode-verdicts.json"
    calls: list[str] = []
    real = decode_mode._probe_run

    def counted(model, device, pad_id, static, path, rows):
        calls.append(path)
        real(model, device, pad_id, static, path, rows)

    monkeypatch.setattr(decode_mode, "_probe_run", counted)
    choice = _choose(tiny, verdicts, key=("m", "cpu", "fp32"))
    assert set(choice.probe) == {"dynamic", "static"}
    clearly_faster = choice.probe["static"] < decode_mode.STATIC_MARGIN * choice.probe["dynamic"]
    assert choice.mode == ("static" if clearly_faster else "dynamic")
    assert choice.reason == "measured" and choice.warmup_seconds > 0
    assert set(calls) == {"dynamic", "static"}
    saved = json.loads(verdicts.read_text())
    assert [v["mode"] for v in saved.values()] == [choice.mode]

    calls.clear()
    again = _choose(tiny, verdicts, key=("m", "cpu", "fp32"))
    assert again == DecodeChoice(choice.mode, choice.probe, 0.0, "cached probe")
    assert calls == []  # no probe the second time
    other = _choose(tiny, verdicts, key=("other", "cpu", "fp32"))
    assert other.reason == "measured"  # another model is measured on its own


def test_an_unreadable_verdict_file_is_measured_again(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(decode_mode, "machine_busy", lambda: False)
    verdicts = tmp_path / "decode-verdicts.json"
    verdicts.write_text("{not json")
    choice = _choose(tiny, verdicts)
    assert choice.reason == "measured"
    assert json.loads(verdicts.read_text())  # rewritten whole


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_a_forced_path_is_used_without_a_probe(tiny, tmp_path, monkeypatch, mode):
    monkeypatch.setattr(decode_mode, "measure", lambda *a: pytest.fail("probed a forced path"))
    choice = _choose(tiny, tmp_path / "v.json", setting=mode)
    assert choice == DecodeChoice(mode, {}, 0.0, "forced")
    assert not (tmp_path / "v.json").exists()


def test_auto_with_fast_decoding_off_keeps_the_plain_path(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(decode_mode, "FAST_DECODE", False)
    choice = _choose(tiny)
    assert choice.mode == "dynamic" and choice.probe == {}


def test_a_bad_setting_is_one_clear_error(tiny, monkeypatch):
    monkeypatch.setenv("COUNCIL_HF_DECODE", "fast")
    with pytest.raises(ValueError) as info:
        _choose(tiny, setting=None)  # reads $COUNCIL_HF_DECODE
    assert (
        str(info.value) == "invalid value for $COUNCIL_HF_DECODE: 'fast' (expected auto, dynamic or static)"
    )


def test_the_layout_leaves_each_rows_last_token_at_the_end():
    """Static and dynamic paths share the layout: prefix, padding, each row's own tokens."""
    prefix = list(range(3, 3 + MIN_SHARED_PREFIX))
    ids, _mask, shared = batch_layout([[*prefix, 6, 7], [*prefix, 8, 9, 10]], PAD)
    assert shared == MIN_SHARED_PREFIX and ids[:, -1].tolist() == [7, 10]


@pytest.mark.parametrize(
    ("static_s", "dynamic_s", "expected"),
    [(0.005, 0.020, "static"), (0.019, 0.020, "dynamic"), (0.030, 0.020, "dynamic")],
)
def test_auto_takes_the_static_path_only_when_it_is_clearly_faster(
    tiny, monkeypatch, static_s, dynamic_s, expected
):
    monkeypatch.setattr(decode_mode, "measure", lambda *a: {"dynamic": dynamic_s, "static": static_s})
    choice = _choose(tiny)
    assert choice.mode == expected and choice.reason == "measured"


@pytest.mark.parametrize("vocab", [40, 97, 300, 49152])
def test_probe_prompts_stay_inside_any_vocabulary(vocab):
    class Config:
        vocab_size = vocab

    class Model:
        config = Config()

    ids = decode_mode._probe_ids(Model(), 2)
    assert ids.shape == (2, decode_mode.PROBE_PROMPT)
    assert int(ids.min()) >= min(100, vocab // 4) and int(ids.max()) < vocab
    assert not torch.equal(ids[0], ids[1])


def test_the_probe_alternates_the_paths_so_both_see_the_same_load(tiny, monkeypatch):
    order: list[tuple[str, int]] = []
    monkeypatch.setattr(decode_mode, "_probe_run", lambda m, d, p, s, path, rows: order.append((path, rows)))
    probe = decode_mode.measure(tiny, "cpu", PAD, StaticCaches(tiny, 4096))
    assert set(probe) == {"dynamic", "static"}
    # Per batch size: one warm-up each, then three rounds of dynamic, static.
    assert order == [(p, rows) for rows in decode_mode.PROBE_ROWS for p in ["dynamic", "static"] * 4]


def test_a_verdict_measured_on_a_busy_machine_is_used_but_not_remembered(tiny, tmp_path, monkeypatch):
    verdicts = tmp_path / "decode-verdicts.json"
    monkeypatch.setattr(decode_mode, "machine_busy", lambda: True)
    monkeypatch.setattr(decode_mode, "measure", lambda *a: {"dynamic": 0.02, "static": 0.01})
    choice = _choose(tiny, verdicts)
    assert choice.mode == "static" and choice.reason == "measured"
    assert not verdicts.exists()
    monkeypatch.setattr(decode_mode, "machine_busy", lambda: False)
    _choose(tiny, verdicts)
    assert verdicts.exists()


def test_greedy_tokens_makes_exactly_the_tokens_asked_for(tiny):
    """The measuring helper (probe, benches): transformers' greedy tokens, `new` of them, any cache."""
    prompt = list(range(3, 40))
    ids = torch.tensor([prompt])
    assert greedy_tokens(tiny, ids, 9, PAD).tolist() == [_alone(tiny, prompt, 9)]
    static = StaticCaches(tiny, 4096).get(1, 60)[0]
    assert greedy_tokens(tiny, ids, 9, PAD, static).tolist() == [_alone(tiny, prompt, 9)]
