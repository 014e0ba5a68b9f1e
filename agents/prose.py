"""Model prose, stopped at the first line it repeats.

A small model that starts repeating itself seldom stops: on the default task
the embedded model's legal expert and coordinator each wrote one line, then
the same line nine more times, until the token limit. The quality gate
(`agents.standard.gate`) throws every repeated line away, so those tokens cost
a laptop ~25 s of a 40 s run and gave the standard nothing. `prose_reply`
streams the reply and stops reading it, which cancels the rest of the
generation, at the first complete line that repeats an earlier one of the same
reply, as the gate compares lines (`normalise`: list numbering, case and
punctuation aside) and only lines of five words or more. ``stop_repeats``
(``COUNCIL_STOP_REPEATS``) turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig

from agents.standard.gate import normalise

#: Lines with fewer words than this may repeat (a short refrain is not a loop).
MIN_WORDS = 5
#: ``finish_reason`` of a reply stopped here.
STOPPED = "repeated_line"


class RepeatWatch:
    """Reads a reply as it streams; says where its first repeated line begins."""

    def __init__(self) -> None:
        self.text = ""
        self._checked = 0  # where the first line not yet complete begins
        self._seen: set[str] = set()

    def feed(self, piece: str) -> int | None:
        """Add streamed text; the offset of a repeated line's start once one is complete, else None."""
        self.text += piece
        while (end := self.text.find("\n", self._checked)) >= 0:
            start, self._checked = self._checked, end + 1
            norm = normalise(self.text[start:end])
            if len(norm.split()) < MIN_WORDS:
                continue
            if norm in self._seen:
                return start
            self._seen.add(norm)
        return None


async def prose_reply(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    *,
    config: RunnableConfig | None = None,
    stop_repeats: bool = True,
) -> AIMessage:
    """The model's reply to `messages`, cut before the first line it repeats (with `stop_repeats`).

    A cut reply keeps everything before the repeated line, and its
    ``response_metadata`` says ``finish_reason: repeated_line``.
    """
    if not stop_repeats:
        reply = await model.ainvoke(list(messages), config=config)
        return AIMessage(content=reply.text, response_metadata=reply.response_metadata)
    watch = RepeatWatch()
    whole: AIMessageChunk | None = None
    metadata: dict[str, Any] = {}
    stream = model.astream(list(messages), config=config)
    try:
        async for chunk in stream:
            if isinstance(chunk, AIMessageChunk):
                whole = chunk if whole is None else whole + chunk
                metadata = dict(whole.response_metadata)
            else:  # a model that does not stream hands over its whole reply at once
                metadata = dict(chunk.response_metadata)
            cut = watch.feed(chunk.text)
            if cut is not None:
                metadata["finish_reason"] = STOPPED
                return AIMessage(content=watch.text[:cut].rstrip(), response_metadata=metadata)
    finally:
        # Closing the stream early cancels the request (the hf engine frees its batch row).
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return AIMessage(content=watch.text, response_metadata=metadata)
