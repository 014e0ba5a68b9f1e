"""Fakes for the council graph's wiring: a scripted chat model and a fixed retriever.

They stand in for the real model and index in tests/unit and in the parts of
the benchmarks that measure the graph and the server without model time
(bench/graph.py, bench/fake_council.py); integration tests run the real
embedded model and the real index.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from tools import Passage, SearchResult

PASSAGES = [
    Passage(
        source_id="eu-ai-act:art-14",
        title="EU Artificial Intelligence Act (Regulation (EU) 2024/1689)",
        locator="Art. 14",
        text="Key terms: human oversight, 人工监督\nHigh-risk AI systems must allow effective human "
        "oversight by natural persons.\n摘要：高风险人工智能系统必须能够由自然人有效监督。",
        origin="corpus",
        url="https://eur-lex.europa.eu/eli/reg/2024/1689/oj",
        score=1.0,
    ),
    Passage(
        source_id="gdpr:art-35",
        title="General Data Protection Regulation (Regulation (EU) 2016/679)",
        locator="Art. 35",
        text="Key terms: DPIA, 数据保护影响评估\nA data protection impact assessment is required "
        "before processing likely to result in a high risk to individuals.\n"
        "摘要：高风险处理前必须进行数据保护影响评估。",
        origin="corpus",
        url="https://eur-lex.europa.eu/eli/reg/2016/679/oj",
        score=0.9,
    ),
]
EXTRA = Passage(
    source_id="nist-ai-rmf:measure",
    title="NIST AI Risk Management Framework 1.0",
    locator="MEASURE",
    text="MEASURE covers testing, evaluation, verification and validation of AI systems.",
    origin="corpus",
    score=0.5,
)


@dataclass
class FakeRetriever:
    """Returns fixed passages; records the queries it was asked."""

    passages: list[Passage] = field(default_factory=lambda: list(PASSAGES))
    warnings: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)

    async def asearch(self, query: str, k: int | None = None) -> SearchResult:
        self.queries.append(query)
        found = [EXTRA] if "measure" in query.lower() else self.passages
        return SearchResult(passages=list(found[: k or 3]), warnings=list(self.warnings))

    def search(self, query: str, k: int | None = None) -> SearchResult:
        return asyncio.run(self.asearch(query, k))

    def refresh(self, progress: bool = False) -> None:
        return None


def persona_of(messages: Sequence[BaseMessage]) -> str:
    """Which persona a prompt is for: experts get their role at the end of the last message."""
    last = messages[-1].text if messages else ""
    if last.startswith("Read this AI-compliance task and give its applicability facts"):
        return "facts"
    if "You are the computer scientist" in last:
        return "scientist"
    if "You are the legal expert" in last:
        return "legal_expert"
    return "coordinator"


Script = Callable[[str, Sequence[BaseMessage], bool], AIMessage]


def default_script(persona: str, messages: Sequence[BaseMessage], tools: bool) -> AIMessage:
    """Experts cite a retrieved passage; the coordinator writes two sections."""
    if persona == "scientist":
        return AIMessage("- Log every triage decision [eu-ai-act:art-14].")
    if persona == "legal_expert":
        return AIMessage("- Run a DPIA before launch [gdpr:art-35].")
    if persona == "facts":
        return AIMessage("I cannot fill in that form.")  # no tool call: structured output fails
    if tools:
        return AIMessage("Enough.")
    return AIMessage(
        "## 3. Technical controls\nKeep logs [eu-ai-act:art-14].\n## 4. Legal obligations\nDo a DPIA."
    )


class ScriptedChatModel(BaseChatModel):
    """A fake chat model for graph-wiring unit tests: replies come from a script function.

    Records every call (persona, messages, whether tools were bound) in `calls`.
    """

    script: Any = default_script
    tool_calling: bool = False
    calls: list[dict[str, Any]] = Field(default_factory=list)
    record: bool = True  # off for long benchmark runs, so `calls` does not grow
    delay_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def supports_tool_calling(self) -> bool:
        return self.tool_calling

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self.bind(tools=list(tools), **kwargs)

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        persona = persona_of(messages)
        tools = bool(kwargs.get("tools"))
        if self.record:
            self.calls.append({"persona": persona, "messages": list(messages), "tools": tools})
        return self.script(persona, messages, tools)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, **kwargs))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages, **kwargs)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if run_manager and reply.content and not reply.tool_calls:
            for word in str(reply.content).split(" "):
                await run_manager.on_llm_new_token(
                    word + " ", chunk=ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
                )
        return ChatResult(generations=[ChatGeneration(message=reply)])


def use_model(monkeypatch: Any, model: ScriptedChatModel) -> ScriptedChatModel:
    """Make every persona of the council graph run on `model` (a pytest `monkeypatch`)."""
    import agents.council

    monkeypatch.setattr(agents.council, "model_for", lambda spec, options: model)
    return model


def by_persona_calls(model: ScriptedChatModel, persona: str) -> list[dict[str, Any]]:
    """The calls `model` got for `persona`, in order."""
    return [c for c in model.calls if c["persona"] == persona]


class Pipe(io.StringIO):
    """Stdin that is not a terminal (a pipe, a file, CI), with the given text."""

    def isatty(self) -> bool:
        return False
