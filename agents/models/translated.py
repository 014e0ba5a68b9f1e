"""Server-backed chat models whose client errors reach the council as one-line `ModelUnavailableError`s.

`ollama/` and `openai/` models subclass LangChain's chat models; each says how
its client's errors read (`_translate_errors`), and this base runs the four entry
points LangChain calls (generate and stream, sync and async) inside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult


class TranslatedErrors(BaseChatModel):
    """Put first among the bases: ``class CouncilChatOllama(TranslatedErrors, ChatOllama)``.

    Everything else, including the request sent, stays the LangChain model's own.
    """

    def _translate_errors(self) -> AbstractContextManager[None]:
        """A context that re-raises the client's errors as `ModelUnavailableError`."""
        raise NotImplementedError

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Generate a reply, translating server errors."""
        with self._translate_errors():
            # The next class in the MRO is the concrete LangChain model (see the class docstring).
            return super()._generate(messages, stop, run_manager, **kwargs)  # type: ignore[safe-super]

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Generate a reply asynchronously, translating server errors."""
        with self._translate_errors():
            return await super()._agenerate(messages, stop, run_manager, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Stream a reply, translating server errors."""
        with self._translate_errors():
            yield from super()._stream(messages, stop, run_manager, **kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Stream a reply asynchronously, translating server errors."""
        with self._translate_errors():
            async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
                yield chunk
