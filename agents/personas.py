"""Persona seed memories, loaded from `prompts/personas/*.md`.

Each file is YAML-like front matter (name, titles, and for experts the tool
name and description the coordinator sees) and a body that is the persona's
system prompt: its expertise, duties, what it must never do, how it cites.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from prompts import load_prompt

PersonaName = Literal["coordinator", "scientist", "legal_expert"]
ExpertName = Literal["scientist", "legal_expert"]

#: The experts the coordinator consults, in report order.
EXPERTS: tuple[ExpertName, ...] = ("scientist", "legal_expert")


@dataclass(frozen=True)
class Persona:
    """One council member: who it is and the seed memory it speaks from."""

    name: str
    title: str
    title_zh: str
    seed_memory: str
    tool_name: str = ""
    tool_description: str = ""

    def display(self, language: str) -> str:
        """The persona's title in the task's language."""
        return self.title_zh if language == "zh" else self.title


def _parse(name: str, text: str) -> Persona:
    if not text.startswith("---\n"):
        raise ValueError(f"persona {name!r}: missing front matter")
    head, _, body = text[4:].partition("\n---\n")
    meta: dict[str, str] = {}
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip()] = value.strip()
    if meta.get("name") != name:
        raise ValueError(f"persona file {name}.md names itself {meta.get('name')!r}")
    return Persona(
        name=name,
        title=meta["title"],
        title_zh=meta["title_zh"],
        seed_memory=body.strip(),
        tool_name=meta.get("tool_name", ""),
        tool_description=meta.get("tool_description", ""),
    )


@cache
def load_persona(name: str) -> Persona:
    """Load persona `name` from `prompts/personas/<name>.md`.

    Raises:
        ValueError: for an unknown persona or a malformed file.

    """
    try:
        text = load_prompt(f"personas/{name}.md")
    except FileNotFoundError:
        raise ValueError(f"unknown persona {name!r}") from None
    return _parse(name, text)


def expert_for_tool(tool_name: str) -> ExpertName | None:
    """The expert whose tool is `tool_name`, or None."""
    for name in EXPERTS:
        if load_persona(name).tool_name == tool_name:
            return name
    return None
