"""The embedded model with int8 weights (``quantize="int8"``, the CPU default): the adapter still
gives exactly what transformers' own greedy ``generate`` gives on the same model, and cuts at stop strings.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from agents import load_chat_model
from agents.models.hf.quantize import Int8Linear, choose_quantize
from tests.integration.test_hf_adapter import PROMPT, _direct_greedy, _prompt_ids


@pytest.fixture(scope="module")
def int8_model() -> Any:
    model = load_chat_model("hf/embedded", device="cpu", quantize="int8", max_new_tokens=32)
    model.engine()
    return model


def test_auto_means_int8_on_this_cpu() -> None:
    assert choose_quantize("cpu", "auto") == "int8"


def test_the_int8_engine_matches_direct_greedy_generate(int8_model: Any) -> None:
    engine = int8_model.engine()
    assert engine.quantize == "int8" and isinstance(engine.model.lm_head, Int8Linear)
    assert engine.decode_loop == "lean"  # the CPU's own loop (loop.py), checked here against generate
    prompt_ids = _prompt_ids(int8_model, [HumanMessage(PROMPT)])
    new_ids = _direct_greedy(engine, prompt_ids, 16)
    assert len(new_ids) == 16 and not set(new_ids) & engine.eos_ids  # as the test assumes
    msg = int8_model.invoke(PROMPT, max_new_tokens=16)
    assert msg.content == engine.tokenizer.decode(new_ids, skip_special_tokens=True)
    assert msg.usage_metadata["output_tokens"] == 16


def test_a_stop_string_cuts_the_int8_reply_exactly(int8_model: Any) -> None:
    text = int8_model.invoke(PROMPT).content
    words = text.split()
    assert len(words) >= 6, text
    stop = words[4]
    msg = int8_model.invoke(PROMPT, stop=[stop])
    assert msg.content == text[: text.index(stop)]
    assert msg.response_metadata["finish_reason"] == "stop"
