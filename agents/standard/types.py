"""Plain-data types of the standard as graph state keeps it (JSON-safe TypedDicts).

Graph state is checkpointed and sent over HTTP, so everything here is dicts,
lists, strings and numbers; the dataclasses that build them live beside.
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

#: Where a fact came from, strongest last: a user's correction beats everything.
FactSource = Literal["default", "similarity", "model", "rule", "user"]


class PassageDict(TypedDict, total=False):
    """A retrieved passage as stored in graph state."""

    source_id: str
    title: str
    locator: str
    text: str
    origin: str
    url: str | None
    score: float


class OpinionDict(TypedDict):
    """One expert's answer in graph state."""

    persona: str
    question: str
    answer: str
    model: str


class FactDict(TypedDict):
    """One applicability fact: its value, a one-line reason and where it came from."""

    key: str
    value: Any
    reason: str
    source: FactSource


class RequirementDict(TypedDict):
    """One requirement of the standard: a catalogue obligation chosen by the facts."""

    id: str
    number: str
    section: str
    instrument: str
    instrument_name: str
    binding: str
    article: str
    passage: str
    statement: str
    because: str
    level: str
    tightens: str


class ChangeDict(TypedDict):
    """How one requirement changed against the previous turn."""

    kind: Literal["added", "tightened", "removed"]
    id: str
    number: str
    statement: str
    reason: str


class ReviewDict(TypedDict):
    """What a reviewer decided about the facts before the council drafted."""

    status: Literal["approved", "corrected"]
    corrected: list[str]
    note: str
