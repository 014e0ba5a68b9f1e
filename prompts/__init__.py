"""Prompts as data: persona seed memories and task templates live as files here."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_prompt(name: str) -> str:
    """Return the text of `prompts/<name>` (a file shipped in this package).

    Raises:
        FileNotFoundError: when no such prompt file exists.

    """
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
