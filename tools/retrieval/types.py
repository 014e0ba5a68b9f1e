"""The retrieval contract: passages, search results and settings.

Graph nodes and the `search_documents` tool both speak these types, so they
live apart from the index, the ranking and the web client that produce them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Origin = Literal["corpus", "docs", "web"]


@dataclass(frozen=True)
class Passage:
    """One retrieved passage with everything needed to cite it.

    Attributes:
        source_id: Stable id, e.g. ``eu-ai-act:art-5`` (bundled note section),
            ``docs:policy.pdf#p3-c2`` (user document chunk) or ``web:<hash>``.
        title: Human title of the instrument or document.
        locator: Where in it: ``Art. 5``, ``Clause 6.1``, ``policy.pdf p. 3``.
        text: The passage text, verbatim from the source.
        origin: ``corpus`` (bundled notes), ``docs`` (user files) or ``web``.
        url: Official or web URL where there is one.
        score: Fused ranking score; higher is better, comparable within one search only.
    """

    source_id: str
    title: str
    locator: str
    text: str
    origin: Origin
    url: str | None = None
    score: float = 0.0


@dataclass
class SearchResult:
    """Passages best first, plus warnings the caller can show (web failures, skipped files)."""

    passages: list[Passage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IndexedChunk:
    """A passage as the index stores it, with the text its rankers see.

    Attributes:
        passage: What a search returns (score 0 until ranked).
        search_text: What is embedded and tokenised for ranking: the passage text
            plus its headings and, for corpus notes, the Chinese titles, so a
            query can match words that the passage body itself does not repeat.
    """

    passage: Passage
    search_text: str
