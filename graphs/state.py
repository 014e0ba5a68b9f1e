"""The council graph's state: what a caller sends, what a turn produces, what nodes share.

Callers send only `messages` (`InputState`); a turn's results — the report, the
applicability facts, the requirements, each expert's opinion, the sources —
come back in `OutputState` so embedders get structure, not just text.
Per-turn fields are reset at the start of each turn with `Overwrite`; the
thread's task, facts, requirements and tightened topics carry over, which is
how a follow-up revises the standard instead of starting another.
"""

from __future__ import annotations

import operator
from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from agents.standard.types import (
    ChangeDict,
    FactDict,
    OpinionDict,
    PassageDict,
    RequirementDict,
    ReviewDict,
)

__all__ = [
    "ChangeDict",
    "ConsultTask",
    "FactDict",
    "InputState",
    "OpinionDict",
    "OutputState",
    "PassageDict",
    "RequirementDict",
    "ResearchTask",
    "ReviewDict",
    "State",
]


def add_user_messages(left: list[AnyMessage], right: object) -> list[AnyMessage]:
    """`add_messages`, with one clear line when a caller sends something that is not messages.

    The HTTP API accepts any JSON as input; LangChain's own error names a Python
    type and a URL, not the field that was wrong.
    """
    try:
        return add_messages(left, right)  # type: ignore[arg-type,return-value]
    except (NotImplementedError, ValueError, TypeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f'\'messages\' must be a list of messages, e.g. [{{"role": "user", "content": "…"}}]: {detail}'
        ) from None


def merge_passages(left: list[PassageDict], right: list[PassageDict]) -> list[PassageDict]:
    """Append passages not seen yet (by source id), keeping retrieval order."""
    seen = {p["source_id"] for p in left}
    return [*left, *(p for p in right if p["source_id"] not in seen)]


class InputState(TypedDict):
    """What a caller sends: the conversation, ending in the user's new message."""

    messages: Annotated[list[AnyMessage], add_user_messages]


class OutputState(TypedDict, total=False):
    """What a turn returns besides the conversation."""

    messages: Annotated[list[AnyMessage], add_user_messages]
    report: str
    # The thread's task (the first request: the standard's title) and its language.
    task: str
    language: str
    # Applicability facts by key; kept across turns, corrected by follow-ups.
    facts: dict[str, FactDict]
    # The standard's numbered requirements, and what this turn changed (follow-ups).
    requirements: list[RequirementDict]
    changes: list[ChangeDict]
    # Topics a follow-up asked to tighten ("data", "oversight", …); kept across turns.
    strict_topics: list[str]
    opinions: Annotated[list[OpinionDict], operator.add]
    sources: list[PassageDict]
    warnings: Annotated[list[str], operator.add]
    mode: str
    # The reviewer's decision on this turn's facts (review on): approved or corrected, and a note.
    review: ReviewDict | None


class State(OutputState, total=False):
    """Everything the nodes share during a turn."""

    # This turn's message (the task itself on a first turn, the follow-up after).
    request: str
    follow_up: bool
    # Whether this turn pauses for review; fixed when the turn starts, so a resume sent
    # without the run's context still finds the pause it answers.
    review_requested: bool
    # What this turn's follow-up corrected and asked for, for the change list.
    corrected: list[str]
    relaxed_topics: list[str]
    tightened_topics: list[str]
    # What earlier turns decided, as the prompts' compact block (empty on a first turn).
    decided: str
    # The thread's requirements before this turn (a follow-up's changes are measured against them).
    previous_requirements: list[RequirementDict]
    # The user's documents (or web results) that bear on each report section.
    section_documents: dict[str, list[PassageDict]]
    passages: Annotated[list[PassageDict], merge_passages]
    # The coordinator's private tool-calling conversation (agentic mode), never shown to the user.
    coordinator_messages: Annotated[list[AnyMessage], add_messages]
    rounds: int
    tool_errors: int


class ConsultTask(TypedDict):
    """What `Send` hands one expert: who, what to answer, and the turn's context."""

    persona: str
    question: str
    tool_call_id: str | None
    task: str
    language: str
    passages: list[PassageDict]
    facts: dict[str, FactDict]
    requirements: list[RequirementDict]
    messages: list[AnyMessage]


class ResearchTask(TypedDict):
    """A retrieval the coordinator asked for as a tool call."""

    query: str
    k: int
    tool_call_id: str
