"""Prompts as data: persona seed memories and task templates live as files here."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_prompt(name: str) -> str:
    """Return the text of `prompts/<name>` (a file shipped in this package).

    Raises:
        FileNotFoundError: when no such prompt file exists.

    """
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@cache
def load_json(name: str) -> Any:
    """Return the parsed JSON file `prompts/<name>`."""
    return json.loads(load_prompt(name))


def render_prompt(name: str, **values: object) -> str:
    """Fill the `{placeholders}` of prompt `name` with `values`.

    Plain replacement rather than `str.format`, because the values (passages,
    user text) may contain braces of their own.

    Raises:
        KeyError: when the template has a placeholder no value was given for,
            or a value names no placeholder (a typo either way).

    """
    text = load_prompt(name)
    for key, value in values.items():
        token = "{" + key + "}"
        if token not in text:
            raise KeyError(f"prompt {name!r} has no placeholder {token}")
        text = text.replace(token, str(value))
    return text
