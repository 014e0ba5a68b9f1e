"""The `search_documents` LangChain tool: the retriever as something an agent can call.

The tool never raises. Bad input (an empty query), bad settings (a missing docs
folder) and failures (a broken index) come back as a result whose content
starts with ``Error:`` and whose artifact is a `SearchResult` with the message
in ``warnings``, so a model can read the problem and a graph keeps running.

Settings come from the LangGraph runtime context when the tool runs inside a
graph (`RetrievalSettings.from_context` on ``get_runtime().context``), else from
environment variables.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from tools.retrieval.format import format_passages
from tools.retrieval.settings import MAX_K, RetrievalSettings
from tools.retrieval.types import SearchResult

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Search the AI-compliance knowledge base: notes on the EU AI Act, NIST AI RMF, ISO/IEC 42001, "
    "China's generative-AI measures, the GDPR and the OECD AI Principles, the user's own documents, "
    "and the web when enabled. Query in English or Chinese. Returns quoted passages, each with an id "
    "to cite (e.g. eu-ai-act:art-14), a title, a locator (article, clause or page) and the text."
)


def current_settings() -> RetrievalSettings:
    """Settings from the running graph's context, or from the environment outside a graph.

    Raises:
        ValueError: for a bad setting, naming it.
    """
    try:
        from langgraph.runtime import get_runtime

        context = get_runtime().context
    except Exception:  # outside a graph run get_runtime raises; no runtime means env settings
        context = None
    return RetrievalSettings.from_context(context) if context is not None else RetrievalSettings.from_env()


def _error(message: str) -> tuple[str, SearchResult]:
    return f"Error: {message}", SearchResult(passages=[], warnings=[message])


def _render(result: SearchResult) -> str:
    text = format_passages(result.passages)
    if result.warnings:
        text += "\n\nWarnings:\n" + "\n".join(f"- {w}" for w in result.warnings)
    return text


def _prepare(query: Any, k: Any) -> tuple[str, int, list[str]]:
    if not isinstance(query, str) or not query.strip():
        raise ValueError("empty query: give some words to search for")
    notes: list[str] = []
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"invalid k: {k!r} (expected an integer 1-{MAX_K})")
    if not 1 <= k <= MAX_K:
        # A model asking for 0 or 100 passages still gets an answer, told what it got.
        notes.append(f"k={k} is outside 1-{MAX_K}; used {min(max(k, 1), MAX_K)}")
        k = min(max(k, 1), MAX_K)
    return query, k, notes


def _search(query: str, k: int = 3) -> tuple[str, SearchResult]:
    try:
        query, k, notes = _prepare(query, k)
        from tools.retrieval.retriever import get_retriever

        result = get_retriever(current_settings()).search(query, k)
        result.warnings[:0] = notes
        return _render(result), result
    except ValueError as exc:  # the user's or the model's input, or settings: say it plainly
        return _error(str(exc))
    except Exception as exc:
        log.exception("search_documents failed")
        return _error(f"search failed ({type(exc).__name__}: {exc})")


async def _asearch(query: str, k: int = 3) -> tuple[str, SearchResult]:
    try:
        query, k, notes = _prepare(query, k)
        from tools.retrieval.retriever import get_retriever

        # Settings are read here, in the graph's context; the search itself runs in a thread.
        result = await get_retriever(current_settings()).asearch(query, k)
        result.warnings[:0] = notes
        return _render(result), result
    except ValueError as exc:
        return _error(str(exc))
    except Exception as exc:
        log.exception("search_documents failed")
        return _error(f"search failed ({type(exc).__name__}: {exc})")


class SearchDocumentsInput(BaseModel):
    """Arguments of `search_documents`."""

    query: str = Field(
        description='What to look for, in English or Chinese, e.g. "human oversight of high-risk AI".'
    )
    k: int = Field(default=3, description=f"How many passages to return (1-{MAX_K}).")


def _invalid_arguments(exc: Exception) -> str:
    # Pydantic's message lists every bad field; one line is enough for a model to retry.
    return f"Error: invalid arguments for search_documents: {' '.join(str(exc).split())[:300]}"


search_documents = StructuredTool.from_function(
    func=_search,
    coroutine=_asearch,
    name="search_documents",
    description=DESCRIPTION,
    args_schema=SearchDocumentsInput,
    response_format="content_and_artifact",
    handle_validation_error=_invalid_arguments,
)
