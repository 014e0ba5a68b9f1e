"""Web search through Tavily, degrading to a warning on every failure.

`search_web` never raises: no key, a timeout, an HTTP error, an exhausted
quota (HTTP 429, 432, 433), or a malformed reply all become a warning string,
and the caller goes on with local passages.

``COUNCIL_TAVILY_BASE_URL`` points the client at another endpoint (a proxy or
gateway in front of Tavily, or a stand-in in tests); the default is Tavily's.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tools.retrieval.types import Passage
from tools.settings_registry import BY_NAME

if TYPE_CHECKING:
    import requests

API_KEY_ENV = "TAVILY_API_KEY"
#: Tavily rejects longer queries; the head of a long query carries its topic.
MAX_WEB_QUERY_CHARS = 400
#: Web snippets are cut to about one local chunk so they cannot crowd out local passages.
MAX_SNIPPET_CHARS = 1200


class MalformedReplyError(ValueError):
    """A reply that is JSON but not shaped like Tavily's search results."""


_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="council-web")


def web_source_id(url: str) -> str:
    """``web:<first 12 hex digits of the URL's SHA-256>``: short, stable and safe in any delimiter."""
    return "web:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


def _describe(exc: BaseException, timeout_s: float) -> str:
    """A one-line reason for a failed web search."""
    import requests
    from tavily import errors

    detail = str(exc).strip()
    if isinstance(exc, errors.TimeoutError | requests.Timeout | FutureTimeout | TimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, errors.UsageLimitExceededError):
        return f"quota exceeded (HTTP 429){': ' + detail if detail else ''}"
    if isinstance(exc, errors.ForbiddenError):
        return f"refused: plan or usage limit reached (HTTP 403/432/433){': ' + detail if detail else ''}"
    if isinstance(exc, errors.InvalidAPIKeyError):
        return "the API key was rejected (HTTP 401): check TAVILY_API_KEY"
    if isinstance(exc, errors.BadRequestError):
        return f"bad request (HTTP 400){': ' + detail if detail else ''}"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, MalformedReplyError):
        return f"unexpected reply: {detail}"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect to the search service"
    if isinstance(exc, ValueError):  # requests' JSONDecodeError is a ValueError
        return "the reply was not valid JSON"
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _to_passages(reply: Any, k: int) -> list[Passage]:
    if not isinstance(reply, dict) or not isinstance(reply.get("results"), list):
        raise MalformedReplyError("no 'results' list")
    passages: list[Passage] = []
    for item in reply["results"]:
        if not isinstance(item, dict):
            continue
        url = item.get("url")
        content = item.get("content")
        if (
            not isinstance(url, str)
            or not url.startswith(("http://", "https://"))
            or not isinstance(content, str)
        ):
            continue
        title = item.get("title") if isinstance(item.get("title"), str) else ""
        score = item.get("score")
        passages.append(
            Passage(
                source_id=web_source_id(url),
                title=(title or url).strip(),
                locator=urlparse(url).netloc or url,
                text=content.strip()[:MAX_SNIPPET_CHARS],
                origin="web",
                url=url,
                score=float(score) if isinstance(score, int | float) else 0.0,
            )
        )
        if len(passages) >= k:
            break
    return passages


def search_web(
    query: str,
    k: int,
    timeout_s: float,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    session: requests.Session | None = None,
) -> tuple[list[Passage], list[str]]:
    """Search the web with Tavily.

    Args:
        query: The search query (cut to 400 characters).
        k: Most results.
        timeout_s: Seconds for the whole call; the request is abandoned after that.
        api_key: Tavily key; None reads ``TAVILY_API_KEY``.
        base_url: API root; None reads ``COUNCIL_TAVILY_BASE_URL``, else Tavily's own.
        session: A `requests.Session` to send through (tests mount a fake transport on it).

    Returns:
        ``(passages, warnings)``: web passages best first, or none and one warning saying why.
    """
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        return [], [f"web search skipped: {API_KEY_ENV} is not set (local results only)"]
    base = str(base_url or BY_NAME["tavily_base_url"].from_env()).rstrip("/")
    try:
        from tavily import TavilyClient

        client = TavilyClient(api_key=key, api_base_url=base, session=session)
        future = _pool.submit(
            client.search, query[:MAX_WEB_QUERY_CHARS], max_results=k, search_depth="basic", timeout=timeout_s
        )
        future.add_done_callback(lambda _: client.close())
        # requests' timeout bounds each socket wait, not the whole call: bound that here.
        reply = future.result(timeout=timeout_s + 1.0)
        return _to_passages(reply, k), []
    except Exception as exc:  # never raise: the local results are still worth returning
        return [], [f"web search failed ({_describe(exc, timeout_s)}); local results only"]
