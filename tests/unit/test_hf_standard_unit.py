"""LangChain's standard unit suite over `ChatLocalHF` (no model is loaded: the class is lazy)."""

from typing import Any

import pytest
from langchain_tests.unit_tests import ChatModelUnitTests

from agents.models.hf import chat_model as chat_model_mod
from tests.hf_standard_flags import ChatLocalHFFlags


@pytest.fixture(autouse=True)
def _never_load_a_model(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the unit suite must not load a model")

    monkeypatch.setattr(chat_model_mod, "get_engine", refuse)
    monkeypatch.setattr(chat_model_mod, "ensure_embedded_model", refuse)


class TestChatLocalHFStandardUnit(ChatLocalHFFlags, ChatModelUnitTests):
    """All flags and params come from `ChatLocalHFFlags`."""
