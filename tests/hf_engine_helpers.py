"""Helpers for tests of the hf/ engine: a tiny random Llama, a sink for a request's events, and an
engine driven by hand (no worker thread) with greedy rows."""

from __future__ import annotations

import threading
from typing import Any

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from agents.models.hf.decode_mode import DecodePath
from agents.models.hf.engine import Engine, Event, Result
from agents.models.hf.lean import LeanStep
from agents.models.hf.rows import Request, Row, Sampling
from agents.models.hf.static import StaticCaches


def _tiny_shape(vocab_size: int, hidden_size: int, max_position_embeddings: int) -> dict[str, Any]:
    """Two layers, 4 heads over 2 KV heads, pad 0, bos 1, eos 2: the tiny models' common config."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": max_position_embeddings,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }


def tiny_llama(
    vocab_size: int = 97, hidden_size: int = 32, max_position_embeddings: int = 256, **extra: Any
) -> LlamaForCausalLM:
    """A two-layer Llama with random weights (seed 0): pad 0, bos 1, eos 2; no download."""
    torch.manual_seed(0)
    config = LlamaConfig(**_tiny_shape(vocab_size, hidden_size, max_position_embeddings), **extra)
    return LlamaForCausalLM(config).eval()


def tiny_qwen2(vocab_size: int = 97, max_position_embeddings: int = 256, **extra: Any) -> Qwen2ForCausalLM:
    """A two-layer Qwen2 (biased q/k/v) with random weights (seed 0), shaped as `tiny_llama`."""
    torch.manual_seed(0)
    config = Qwen2Config(**_tiny_shape(vocab_size, 32, max_position_embeddings), **extra)
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():  # random biases, so that a lost one shows
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    return model


def tiny_mistral(**extra: Any) -> MistralForCausalLM:
    """A one-layer Mistral with random weights: an architecture other than Llama's."""
    config = MistralConfig(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        **extra,
    )
    return MistralForCausalLM(config).eval()


class Sink:
    """Collects one request's events; `done` is set on its last one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.done = threading.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event[0] in ("done", "error"):
            self.done.set()

    def result(self, timeout: float = 60) -> Result:
        """The request's result, once it finished; fails on an error or a request that never ends."""
        assert self.done.wait(timeout), "the request never finished"
        kind, value = self.events[-1]
        assert kind == "done", value
        result: Result = value
        return result

    def tokens(self) -> list[str]:
        """The streamed text pieces, in order."""
        return [value for kind, value in self.events if kind == "token"]


class IdsTokenizer:
    """Just enough tokenizer for `Row`: token ids as text."""

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(f" {i}" for i in ids)


def hand_driven_engine(model: Any, mode: DecodePath = "dynamic", lean: bool = False) -> Engine:
    """An `Engine` around `model` without its worker thread, decoding on `mode`: tests call `_generate`.

    With `lean`, dynamic-path batches run the engine's own loop on a `LeanStep` (the CPU default).
    """
    engine = Engine.__new__(Engine)
    engine._lean = LeanStep.build(model) if lean else None
    assert engine._lean is not None or not lean, "the model is not one the lean step covers"
    engine.model, engine.device, engine.pad_id, engine.eos_ids = model, "cpu", 0, set()
    engine.batches_run = engine.shared_prefix_tokens = 0
    engine.decode_mode = mode
    engine._static = StaticCaches(model, int(model.config.max_position_embeddings))
    engine.compile_seconds = {}
    return engine


def rows_for(
    prompts: list[list[int]],
    new: int,
    sampling: Sampling | None = None,
    stop: tuple[str, ...] = (),
    eos_ids: set[int] | None = None,
) -> list[Row]:
    """One `Row` per prompt with these settings (default: greedy), `new` tokens at most each."""
    sampling = sampling or Sampling(temperature=0.0, top_p=1.0, repetition_penalty=1.0, seed=None)
    return [
        Row(
            Request(input_ids=p, sampling=sampling, max_new_tokens=new, stop=stop, sink=lambda _: None),
            IdsTokenizer(),  # type: ignore[arg-type]
            eos_ids or set(),
        )
        for p in prompts
    ]


def greedy_rows(prompts: list[list[int]], new: int) -> list[Row]:
    """One greedy `Row` per prompt, `new` tokens each, no stop strings."""
    return rows_for(prompts, new)
