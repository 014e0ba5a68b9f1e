"""Text helpers for the report: its fixed labels, one-line clipping and Markdown escaping."""

from __future__ import annotations

import html
import re
from typing import Any

from prompts import load_json

#: Characters of the task shown in the title and the scope statement.
TITLE_CHARS = 120


def labels(language: str) -> dict[str, Any]:
    """The fixed report labels in `language` (``zh`` or ``en``)."""
    table: dict[str, dict[str, Any]] = load_json("report_labels.json")
    return table.get(language, table["en"])


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut at `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


#: Markdown that text from a user, a document or a model could use to add structure to the report:
#: links and images ([…](…)), emphasis, code, table cells. Escaped with a backslash.
_MARKDOWN = re.compile(r"([\\`*_\[\]|])")


def escape(text: str) -> str:
    """Text from a user, a document or a model, safe in Markdown that a chat UI renders as HTML.

    HTML is escaped, and so are the characters that would turn quoted text into
    links, images, emphasis, code or table cells; headings cannot start mid-line.
    """
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


#: In model prose that passed the gate, its citations ("[gdpr:art-5]") stay as they are; what
#: would make a link or an image, emphasis, code or a table cell is escaped.
_PROSE_MARKDOWN = re.compile(r"(\]\(|!\[|[`*_|])")


def escape_prose(text: str) -> str:
    """A model's line, safe in the report: HTML and Markdown structure escaped, citations kept."""
    return _PROSE_MARKDOWN.sub(
        lambda m: "\\" + m.group(0) if m.group(0) != "](" else "]\\(", html.escape(text, quote=False)
    )
