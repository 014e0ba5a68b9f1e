"""The lean decoding step (lean.py) and the engine's own loop (loop.py), on tiny random Llamas (CPU).

What they must show: fusing projections changes no bit of what the model
computes, a lean step gives the model's own logits, and the engine's loop
gives what its `generate` path gives for every setting a request can carry:
greedy, repetition penalty, seeded sampling; alone, left-padded and with a
shared prefix; fp32 and int8 weights; stop strings, EOS, limits and cancels.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from transformers import LlamaForCausalLM

from agents.models.hf import loop
from agents.models.hf.decode import (
    MIN_SHARED_PREFIX,
    SmallBatchLinear,
    batch_layout,
    greedy_tokens,
    new_cache,
)
from agents.models.hf.lean import LeanStep, fuse_linears
from agents.models.hf.quantize import Int8Linear, quantize_model
from agents.models.hf.rows import Row, Sampling
from tests.hf_engine_helpers import hand_driven_engine, rows_for, tiny_llama, tiny_mistral, tiny_qwen2

PAD = 0
GREEDY = Sampling(temperature=0.0, top_p=1.0, repetition_penalty=1.0, seed=None)
PENALTY = Sampling(temperature=0.0, top_p=1.0, repetition_penalty=1.3, seed=None)
SAMPLED = Sampling(temperature=0.8, top_p=0.9, repetition_penalty=1.1, seed=7)
PREFIX = [(5 * i) % 250 + 3 for i in range(MIN_SHARED_PREFIX + 6)]
LAYOUTS = {
    "alone": [[(11 * i) % 250 + 3 for i in range(40)]],
    "left-padded": [[5, 6, 7, 8, 9, 10], list(range(30, 52)), [77, 78]],
    "shared prefix": [[*PREFIX, 9, 8], [*PREFIX, *range(20, 41)], [*PREFIX, 77]],
}
#: A batch far above the default $COUNCIL_MAX_BATCH (int8 used to switch paths past 32 rows).
MANY_ROWS = [[(7 * i + j) % 250 + 3 for j in range(10)] for i in range(40)]


def _model(weights: str, arch: str = "llama") -> Any:
    build = tiny_qwen2 if arch == "qwen2" else tiny_llama
    model = build(vocab_size=300, max_position_embeddings=1024)
    quantize_model(model, weights)
    return model


def _run(model: LlamaForCausalLM, rows: list[Row], lean: bool, eos: set[int] | None = None) -> list[Row]:
    engine = hand_driven_engine(model, lean=lean)
    engine.eos_ids = eos or set()
    engine._generate(rows)
    return rows


def _outcome(rows: list[Row]) -> list[tuple[list[int], str, str]]:
    return [(row.ids, row.result().text, row.result().finish_reason) for row in rows]


def _linears(kind: str) -> list[nn.Module]:
    torch.manual_seed(1)
    layers: list[nn.Module] = [nn.Linear(16, width) for width in (16, 8, 8)]
    if kind == "int8":
        return [Int8Linear(layer) for layer in layers]  # type: ignore[arg-type]
    if kind == "small-batch":
        cls = type("SmallBatchLinear", (SmallBatchLinear,), {"max_rows": 4})
        for layer in layers:
            layer.__class__ = cls
    return layers


@pytest.mark.parametrize("kind", ["linear", "small-batch", "int8"])
@pytest.mark.parametrize("rows", [1, 2, 3])
def test_a_fused_projection_computes_what_the_separate_ones_did(kind, rows):
    layers = _linears(kind)
    x = torch.randn(rows, 1, 16)
    with torch.inference_mode():
        before = [layer(x) for layer in layers]
        built = fuse_linears(layers)
        assert built is not None
        fused, widths = built
        assert type(fused) is type(layers[0]) and widths == [16, 8, 8]
        assert all(torch.equal(a, b) for a, b in zip(fused(x).split(widths, dim=-1), before, strict=True))
        # The originals now read views of the stacked weight: same results, no second copy.
        assert all(torch.equal(layer(x), b) for layer, b in zip(layers, before, strict=True))
    weight = "qweight" if kind == "int8" else "weight"
    base = getattr(fused, weight).untyped_storage().data_ptr()
    assert all(getattr(layer, weight).untyped_storage().data_ptr() == base for layer in layers)


def test_layers_of_mixed_kinds_are_not_fused():
    first, second = _linears("linear")[:2]
    assert fuse_linears([first, Int8Linear(second)]) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("weights", ["none", "int8"])
def test_building_the_step_changes_nothing_the_model_computes(weights, arch):
    model = _model(weights, arch)
    ids = torch.tensor([LAYOUTS["alone"][0]])
    with torch.inference_mode():
        before = model(input_ids=ids).logits
        assert LeanStep.build(model) is not None
        assert torch.equal(model(input_ids=ids).logits, before)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("weights", ["none", "int8"])
@pytest.mark.parametrize("layout", [*LAYOUTS, "many rows"])
def test_a_lean_step_gives_the_models_own_logits(weights, layout, arch):
    model = _model(weights, arch)
    step = LeanStep.build(model)
    assert step is not None
    ids, mask, _ = batch_layout(MANY_ROWS if layout == "many rows" else LAYOUTS[layout], PAD)
    positions = loop.positions_from_mask(mask)
    token = torch.tensor([[17]] * ids.shape[0])
    full_mask = torch.cat([mask, torch.ones_like(token)], dim=1)
    next_position = positions[:, -1:] + 1
    padded = bool((mask == 0).any())
    with torch.inference_mode():
        ours, theirs = new_cache(model, 128), new_cache(model, 128)
        for cache in (ours, theirs):
            model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True)
        expected = model(
            input_ids=token,
            attention_mask=full_mask,
            position_ids=next_position,
            cache=theirs,
            use_cache=True,
        ).logits[:, -1]
        got = step(token, next_position, ours, full_mask if padded else None)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("weights", ["none", "int8"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("sampling", [GREEDY, PENALTY, SAMPLED], ids=["greedy", "penalty", "sampled"])
def test_the_lean_loop_gives_what_generate_gives(weights, layout, sampling, arch):
    model = _model(weights, arch)
    prompts = LAYOUTS[layout]
    lean = _run(model, rows_for(prompts, 16, sampling), lean=True)
    plain = _run(model, rows_for(prompts, 16, sampling), lean=False)
    assert _outcome(lean) == _outcome(plain)
    assert all(len(row.ids) == 16 for row in lean)


def test_greedy_lean_rows_equal_transformers_generate_alone():
    model = _model("none")
    prompts = LAYOUTS["shared prefix"]
    rows = _run(model, rows_for(prompts, 12), lean=True)
    for row, prompt in zip(rows, prompts, strict=True):
        assert row.ids == greedy_tokens(model, torch.tensor([prompt]), 12, PAD)[0].tolist()


def test_rows_stop_on_their_own_eos_stop_string_and_limit():
    model = _model("int8")
    prompts = LAYOUTS["left-padded"]
    free = _run(model, rows_for(prompts, 20), lean=True)
    eos = free[0].ids[5]  # a token the first row writes: its EOS now
    stop = f" {free[1].ids[3]} {free[1].ids[4]}"  # the second row's text holds this

    def made() -> list[Row]:
        return [
            rows_for([prompts[0]], 20, eos_ids={eos})[0],
            rows_for([prompts[1]], 20, stop=(stop,), eos_ids={eos})[0],
            rows_for([prompts[2]], 7, eos_ids={eos})[0],
        ]

    lean = _run(model, made(), lean=True, eos={eos})
    plain = _run(model, made(), lean=False, eos={eos})
    assert _outcome(lean) == _outcome(plain)
    first, second, third = (row.result() for row in lean)
    assert first.finish_reason == "stop" and first.completion_tokens == free[0].ids.index(eos)
    assert second.finish_reason == "stop" and stop not in second.text
    if eos in free[2].ids[:7]:
        assert (third.finish_reason, third.completion_tokens) == ("stop", free[2].ids.index(eos))
    else:
        assert (third.finish_reason, third.completion_tokens) == ("length", 7)


def test_the_loop_ends_once_every_row_has_finished():
    model = _model("none")
    step = LeanStep.build(model)
    assert step is not None
    steps = []

    def counted(*args):
        steps.append(1)
        return step(*args)

    rows = rows_for(LAYOUTS["left-padded"], 4)
    ids, mask, _ = batch_layout(LAYOUTS["left-padded"], PAD)
    loop.decode_rows(model, counted, ids, mask, new_cache(model, 64), rows, max_new_tokens=50, pad_id=PAD)  # type: ignore[arg-type]
    # Four tokens each: the first comes from the prompt's forward, three from steps.
    assert len(steps) == 3 and all(len(row.ids) == 4 for row in rows)


def test_a_cancelled_row_stops_the_loop():
    model = _model("none")
    step = LeanStep.build(model)
    assert step is not None
    rows = rows_for(LAYOUTS["alone"], 50)
    calls = []

    def cancel_after_two(*args):
        calls.append(1)
        if len(calls) == 2:
            rows[0].req.cancelled.set()
        return step(*args)

    ids, mask, _ = batch_layout(LAYOUTS["alone"], PAD)
    loop.decode_rows(
        model, cancel_after_two, ids, mask, new_cache(model, 64), rows, max_new_tokens=50, pad_id=PAD
    )  # type: ignore[arg-type]
    assert len(calls) == 2 and rows[0].result().finish_reason == "cancelled"


def test_models_the_step_does_not_cover_keep_generate():
    assert LeanStep.build(tiny_mistral()) is None
    sliding = tiny_qwen2(use_sliding_window=True, sliding_window=8, max_window_layers=0)
    assert LeanStep.build(sliding) is None  # a layer attends through a window: not covered
    assert LeanStep.build(_model("none").to(torch.bfloat16)) is None
    extra = _model("none")
    assert loop.covers(extra)
    extra.generation_config.no_repeat_ngram_size = 3  # a processor the loop does not have
    assert not loop.covers(extra)


def test_the_processors_are_generates_for_each_setting():
    mask = torch.tensor([[0, 1, 1]])
    assert len(loop.processors(GREEDY, mask)) == 0
    names = [type(p).__name__ for p in loop.processors(SAMPLED, mask)]
    assert names == ["RepetitionPenaltyLogitsProcessor", "TemperatureLogitsWarper", "TopPLogitsWarper"]
    plain = Sampling(temperature=1.0, top_p=1.0, repetition_penalty=1.0, seed=None)
    assert len(loop.processors(plain, mask)) == 0


def test_positions_count_unmasked_tokens_as_generate_does():
    mask = torch.tensor([[1, 1, 0, 0, 1], [0, 1, 1, 1, 1]])
    assert loop.positions_from_mask(mask).tolist() == [[0, 1, 0, 0, 2], [0, 0, 1, 2, 3]]
