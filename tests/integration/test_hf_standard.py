"""LangChain's standard integration suite over `ChatLocalHF` on the real embedded model."""

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from agents.models.hf import ChatLocalHF

# Generous: a whole test is a few short CPU generations, but the machine may be shared.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", autouse=True)
def _loaded(embedded_model):
    """Load the model once before the suite, so no single test pays for it."""


class TestChatLocalHFStandard(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatLocalHF]:
        return ChatLocalHF

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # Greedy and short: every standard test only needs some text back.
        return {"model": "embedded", "max_new_tokens": 16}

    @property
    def has_tool_calling(self) -> bool:
        # bind_tools is implemented (fallback prompt + `<tool_call>` parser, see
        # test_hf_adapter.py), but SmolLM2-135M-Instruct cannot reliably write a tool
        # call, so the tool-calling tests (which demand one) would fail on the model,
        # not on the adapter. Claiming the capability would be dishonest.
        return False

    @property
    def has_structured_output(self) -> bool:
        # with_structured_output rides on tool calling (above); JSON mode is not offered.
        return False

    @property
    def supports_model_override(self) -> bool:
        # One instance serves one loaded model; a per-call `model=` is an unknown option.
        return False
