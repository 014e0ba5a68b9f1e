"""`agents.prose`: prose stopped at its first repeated line, and the stream closed there (fake chat model)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from agents.prose import STOPPED, RepeatWatch, prose_reply

LOOPING = (
    "A: The deployer keeps the logs for six months at least.\n\n"
    "1. The EUA is defined by the EUA as a European Union regulatory framework.\n\n"
    "2. The EUA is defined by the EUA as a European Union regulatory framework.\n\n"
    "3. The EUA is defined by the EUA as a European Union regulatory framework.\n"
)


class FakeWholeReplyChatModel(BaseChatModel):
    """Fake model for wiring tests that cannot stream: LangChain hands its whole reply over as one message."""

    text: str

    @property
    def _llm_type(self) -> str:
        return "fake-whole-reply"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = AIMessage(content=self.text, response_metadata={"finish_reason": "length"})
        return ChatResult(generations=[ChatGeneration(message=message)])


class FakeStreamingChatModel(FakeWholeReplyChatModel):
    """Fake model for wiring tests: streams `text` a few characters at a time and counts what was read."""

    sent: int = 0  # chunks handed out
    closed: bool = False

    def _pieces(self) -> Iterator[str]:
        for i in range(0, len(self.text), 7):
            yield self.text[i : i + 7]

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        try:
            for piece in self._pieces():
                self.sent += 1
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
            last = AIMessageChunk(content="", response_metadata={"finish_reason": "length"})
            yield ChatGenerationChunk(message=last)
        finally:
            self.closed = True


def _watch(text: str) -> int | None:
    watch = RepeatWatch()
    return watch.feed(text)


def test_a_line_repeated_in_other_numbering_case_and_punctuation_is_found_where_it_begins():
    text = "1. Keep the logs for six months.\n2. keep the LOGS for six months!\nmore"
    assert _watch(text) == text.index("2.")


@pytest.mark.parametrize(
    "text",
    [
        "Keep logs.\nKeep logs.\nKeep logs.\n",  # under five words: a refrain, not a loop
        "Keep the logs for six months.\nKeep the logs for twelve months.\n",  # different lines
        "Keep the logs for six months.\nKeep the logs for six months.",  # the repeat is not complete yet
    ],
)
def test_no_repeat_is_reported_for(text):
    assert _watch(text) is None


def test_pieces_that_split_lines_anywhere_find_the_same_repeat():
    whole = RepeatWatch().feed(LOOPING)
    watch = RepeatWatch()
    found = [watch.feed(LOOPING[i : i + 3]) for i in range(0, len(LOOPING), 3)]
    assert next(f for f in found if f is not None) == whole == LOOPING.index("2. The EUA")


async def test_a_looping_reply_is_cut_before_its_first_repeat_and_its_stream_closed():
    model = FakeStreamingChatModel(text=LOOPING + "x" * 700)
    reply = await prose_reply(model, [HumanMessage("Q?")])
    assert reply.text == LOOPING[: LOOPING.index("2. The EUA")].rstrip()
    assert reply.response_metadata["finish_reason"] == STOPPED
    # Reading stopped at the repeat: the 700 characters after it were never asked for.
    assert model.closed and model.sent * 7 < len(LOOPING) + 7


async def test_a_reply_without_repeats_is_whole_with_its_metadata():
    text = "Keep the logs for six months.\nTell users they talk to a machine.\n"
    reply = await prose_reply(FakeStreamingChatModel(text=text), [HumanMessage("Q?")])
    assert reply.text == text and reply.response_metadata["finish_reason"] == "length"


async def test_with_stop_repeats_off_the_reply_is_whole():
    reply = await prose_reply(FakeStreamingChatModel(text=LOOPING), [HumanMessage("Q?")], stop_repeats=False)
    assert reply.text == LOOPING and reply.response_metadata["finish_reason"] == "length"


@pytest.mark.parametrize("text", [LOOPING, "Keep the logs for six months.\n"])
async def test_a_model_that_does_not_stream_is_cut_the_same_way(text):
    reply = await prose_reply(FakeWholeReplyChatModel(text=text), [HumanMessage("Q?")])
    looping = text == LOOPING
    assert reply.text == (LOOPING[: LOOPING.index("2. The EUA")].rstrip() if looping else text)
    assert reply.response_metadata["finish_reason"] == (STOPPED if looping else "length")
