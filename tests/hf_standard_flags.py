"""The capability flags both LangChain standard suites use for `ChatLocalHF`, stated once."""

from typing import Any

from agents.models.hf import ChatLocalHF


class ChatLocalHFFlags:
    """Mixin for `ChatModelUnitTests` / `ChatModelIntegrationTests` over the embedded model."""

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
