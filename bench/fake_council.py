"""The council graph on an instant fake model and a fixed retriever, for measuring the server alone.

`bench/server.py` serves this module's `graph` with `langgraph dev` to measure
what the HTTP API, the run queue and the checkpoints cost per run, with no
model time in the way. It is the real `build_graph()` — the same nodes, fan-out
and report assembly — with two seams patched before it is built:
``agents.council.model_for`` returns `InstantChatModel`, and
``graphs.compliance.get_retriever`` returns `FixedRetriever`. Never import this
module in the app itself: the patches are process-wide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

import agents.council
import graphs.compliance
from tools import Passage, SearchResult

PASSAGES = [
    Passage(
        source_id="eu-ai-act:art-14",
        title="EU Artificial Intelligence Act (Regulation (EU) 2024/1689)",
        locator="Art. 14",
        text="High-risk AI systems must allow effective human oversight by natural persons.",
        origin="corpus",
        score=1.0,
    ),
    Passage(
        source_id="gdpr:art-35",
        title="General Data Protection Regulation (Regulation (EU) 2016/679)",
        locator="Art. 35",
        text="A data protection impact assessment is required before high-risk processing.",
        origin="corpus",
        score=0.9,
    ),
]

#: What each persona says, by a phrase of its seed memory (the system prompt).
REPLIES = {
    "You are the computer scientist": "- Log every decision for review [eu-ai-act:art-14].",
    "You are the legal expert": "- Run a DPIA before launch [gdpr:art-35].",
}
SYNTHESIS = (
    "## 3. Technical controls\nKeep decision logs [eu-ai-act:art-14].\n## 4. Legal obligations\nDo a DPIA."
)


class InstantChatModel(BaseChatModel):
    """Answers at once with a fixed reply per persona, streamed as a few tokens; never calls tools."""

    @property
    def _llm_type(self) -> str:
        return "instant-fake"

    def supports_tool_calling(self) -> bool:
        """The council's `auto` mode then runs the fixed workflow, as on the embedded model."""
        return False

    def _reply(self, messages: Sequence[BaseMessage]) -> str:
        system = next((m.text for m in messages if isinstance(m, SystemMessage)), "")
        return next((reply for marker, reply in REPLIES.items() if marker in system), SYNTHESIS)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self._reply(messages)))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._reply(messages)
        if run_manager:  # a few token events, so `messages` streams carry something
            for word in text.split(" "):
                chunk = AIMessageChunk(content=word + " ")
                await run_manager.on_llm_new_token(word + " ", chunk=ChatGenerationChunk(message=chunk))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


class FixedRetriever:
    """Returns the same passages for every query, at once."""

    async def asearch(self, query: str, k: int | None = None) -> SearchResult:
        """The fixed passages (at most `k`)."""
        return SearchResult(passages=list(PASSAGES[: k or len(PASSAGES)]), warnings=[])

    def refresh(self, progress: bool = False) -> None:
        """Nothing to index."""


_MODEL = InstantChatModel()
_RETRIEVER = FixedRetriever()


def _model_for(spec: str, options: Mapping[str, Any]) -> BaseChatModel:
    return _MODEL


def _get_retriever(settings: Any) -> Any:
    return _RETRIEVER


agents.council.model_for = _model_for
graphs.compliance.get_retriever = _get_retriever  # type: ignore[assignment]  # duck-typed stand-in

#: The council on the fakes, for `langgraph dev` (its config is written by bench/server.py).
graph = graphs.compliance.build_graph()
