"""Both decoding paths on the real embedded model give the same greedy text.

`COUNCIL_HF_DECODE=static` is the path transformers compiles on a GPU; on this
CPU it runs uncompiled. Forced static and forced dynamic engines answer the
same requests, alone and as one batch whose rows share a long prefix (as the
council's experts do), and must agree token for token.
"""

from collections.abc import Iterator

import pytest
import torch

from agents.models.hf.embedded import ensure_embedded_model
from agents.models.hf.engine import Engine, Request, Result, Sampling
from tests.hf_engine_helpers import Sink

GREEDY = Sampling(temperature=0.0, top_p=1.0, repetition_penalty=1.1, seed=None)
NEW_TOKENS = 20
PASSAGES = " ".join(
    f"Article {n} requires the provider to keep logs of automated decision {n} and to name a reviewer."
    for n in range(1, 9)
)
QUESTIONS = ["Which article covers logging?", "Who must name a reviewer?"]


@pytest.fixture(scope="module", params=["dynamic", "static"])
def engine(request, monkeypatch_module) -> Iterator[Engine]:
    monkeypatch_module.setenv("COUNCIL_HF_DECODE", request.param)
    loaded = Engine(ensure_embedded_model(), "cpu", torch.float32)  # outside the registry: one per path
    assert loaded.decode_mode == request.param
    yield loaded
    loaded.close()
    assert loaded.join(60)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _ids(engine: Engine, question: str) -> list[int]:
    messages = [{"role": "user", "content": f"{PASSAGES}\n\n{question}"}]
    ids = engine.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def _answer_all(engine: Engine, prompts: list[list[int]]) -> list[Result]:
    """Submit every prompt at once (so they share a batch) and wait for each result."""
    sinks = [Sink() for _ in prompts]
    for ids, sink in zip(prompts, sinks, strict=True):
        engine.submit(Request(ids, GREEDY, NEW_TOKENS, (), sink))
    return [sink.result(timeout=600) for sink in sinks]


ANSWERS: dict[str, list[list[str]]] = {}


def test_alone_and_batched_answers_are_the_same_on_both_paths(engine):
    prompts = [_ids(engine, q) for q in QUESTIONS]
    alone = [_answer_all(engine, [p])[0] for p in prompts]
    shared_before = engine.shared_prefix_tokens
    batched = _answer_all(engine, prompts)
    assert engine.shared_prefix_tokens > shared_before, "the rows' shared prefix was not read once"
    assert all(r.completion_tokens == NEW_TOKENS or r.finish_reason == "stop" for r in alone)
    assert [r.text for r in batched] == [r.text for r in alone]
    ANSWERS[engine.decode_mode] = [[r.text for r in alone], [r.text for r in batched]]
    if len(ANSWERS) == 2:
        assert ANSWERS["static"] == ANSWERS["dynamic"]
