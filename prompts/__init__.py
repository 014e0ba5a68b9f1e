"""Prompts as data: persona seed memories and task templates live as files here."""

from __future__ import annotations

import json
import re
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
    """Fill the `{placeholders}` of prompt `name` with `values`, in one pass.

    One pass over the template, not `str.format` or repeated replacement: the
    values (a user's task, passages) may contain braces of their own, and a
    task that says "{passages}" must stay text, not become a second passage block.

    Raises:
        KeyError: when a value names no placeholder of the template (a typo).
    """
    text = load_prompt(name)
    for key in values:
        if "{" + key + "}" not in text:
            raise KeyError(f"prompt {name!r} has no placeholder {{{key}}}")
    pattern = re.compile("|".join(re.escape("{" + key + "}") for key in values)) if values else None
    if pattern is None:
        return text
    return pattern.sub(lambda m: str(values[m.group(0)[1:-1]]), text)
