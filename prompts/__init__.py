"""Prompts as data: persona seed memories and task templates live as files here."""

from __future__ import annotations

import html
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


def quoted(tag: str, text: str, **attrs: str) -> str:
    """Untrusted text as a delimited element for a prompt: ``<tag a="…">text</tag>``.

    ``&``, ``<`` and ``>`` in the text are escaped, and the attributes with
    quotes too, so nothing inside can close the element, open another, or
    spell a chat-template token: what a document, a web page or another
    model wrote reaches the model as data to read, not as instructions.
    """
    shown = " ".join(f'{k}="{html.escape(" ".join(v.split()), quote=True)}"' for k, v in attrs.items())
    body = html.escape(text.strip(), quote=False)
    return f"<{tag}{' ' + shown if shown else ''}>\n{body}\n</{tag}>"
