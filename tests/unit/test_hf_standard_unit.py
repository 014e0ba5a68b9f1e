"""LangChain's standard unit suite over `ChatLocalHF` (no model is loaded: the class is lazy)."""

from typing import Any

import pytest
from langchain_tests.unit_tests import ChatModelUnitTests

from agents.models.hf import ChatLocalHF
from agents.models.hf import chat_model as chat_model_mod


@pytest.fixture(autouse=True)
def _never_load_a_model(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the unit suite must not load a model")

    monkeypatch.setattr(chat_model_mod, "get_engine", refuse)
    monkeypatch.setattr(chat_model_mod, "ensure_embedded_model", refuse)


class TestChatLocalHFStandardUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatLocalHF]:
        return ChatLocalHF

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "embedded", "max_new_tokens": 16}

    @property
    def has_tool_calling(self) -> bool:
        # bind_tools exists and works (fallback prompt + parser), but SmolLM2-135M cannot
        # reliably write a tool call, so the suite must not claim the capability.
        return False

    @property
    def has_structured_output(self) -> bool:
        # Structured output is built on tool calling (see above).
        return False

    @property
    def supports_model_override(self) -> bool:
        # One instance is one loaded model; a per-call `model=` is rejected as an unknown option.
        return False
