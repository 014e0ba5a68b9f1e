"""Experts on another LangGraph server, called through `RemoteGraph`.

When the run's context names an experts URL, each expert is the `scientist`
or `legal_expert` graph on that server (see graphs/experts.py and
langgraph.json) rather than a model call in this process. The request is the
same message the in-process expert would get; the remote graph adds the
persona's seed memory itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from langchain_core.messages import BaseMessage, convert_to_openai_messages
from langgraph.pregel.remote import RemoteException, RemoteGraph

from agents.models.errors import ModelUnavailableError, redact_credentials

#: Seconds to open a connection to the experts server. The SDK retries a refused
#: connection for ~8 s; a probe with one attempt reports it at once.
CONNECT_TIMEOUT_S = 3.0


class ExpertsUnavailableError(ModelUnavailableError):
    """The experts server is down, unreachable, too slow, or answered with an error.

    The message never holds a password: a URL's credentials are shown as ``***``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact_credentials(message))


def _unreachable(url: str) -> str:
    return f"cannot reach the experts server at {url}: is `langgraph dev` (or a LangGraph Server) running?"


async def _probe(url: str, timeout_s: float) -> None:
    """Fail fast when nothing answers at `url`; any HTTP answer at all will do."""
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)) as client:
            await client.get(f"{url.rstrip('/')}/ok")
    except httpx.TransportError:
        raise ExpertsUnavailableError(_unreachable(url)) from None


async def ask_remote_expert(
    url: str,
    persona: str,
    messages: Sequence[BaseMessage],
    context: Any,
    *,
    timeout_s: float,
) -> str:
    """Run expert graph `persona` on the LangGraph server at `url`; return its answer.

    Args:
        url: Base URL of the LangGraph server (``http://host:port``).
        persona: The graph (assistant) name: ``scientist`` or ``legal_expert``.
        messages: The conversation ending in the request; sent as plain role/content dicts.
        context: The run's `Context`; the expert's model spec, decoding options and
            `stop_repeats` are forwarded.
        timeout_s: Seconds to wait for the whole run.

    Raises:
        ExpertsUnavailableError: one line naming the URL and what went wrong.
    """
    remote = RemoteGraph(persona, url=url)
    payload = {"messages": convert_to_openai_messages(list(messages))}
    remote_context = {
        "model": context.persona_model(persona),
        **context.model_options(),
        "stop_repeats": context.stop_repeats,
    }
    await _probe(url, timeout_s)
    try:
        result = await asyncio.wait_for(remote.ainvoke(payload, context=remote_context), timeout_s)
    except TimeoutError:
        raise ExpertsUnavailableError(
            f"the {persona} graph at {url} did not answer within {timeout_s:g} s "
            "(raise experts_timeout_s / COUNCIL_EXPERTS_TIMEOUT_S)"
        ) from None
    except httpx.ConnectError:
        raise ExpertsUnavailableError(_unreachable(url)) from None
    except httpx.TransportError as exc:
        # The connection broke mid-run (reset, protocol error, read timeout).
        raise ExpertsUnavailableError(
            f"the {persona} graph at {url} failed: {type(exc).__name__}: {_first_line(exc)[:300]}"
        ) from None
    except RemoteException as exc:
        # The expert graph ran there and failed (a model error on that host, say).
        raise ExpertsUnavailableError(
            f"the {persona} graph at {url} failed: {_first_line(exc)[:300]}"
        ) from None
    except httpx.HTTPStatusError as exc:
        raise ExpertsUnavailableError(
            f"the experts server at {url} answered {exc.response.status_code} for graph {persona!r}: "
            f"{exc.response.text[:200]}"
        ) from None
    return _last_ai_text(result, persona, url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _last_ai_text(result: Any, persona: str, url: str) -> str:
    messages = result.get("messages") if isinstance(result, Mapping) else None
    for message in reversed(messages or []):
        kind = message.get("type") or message.get("role") if isinstance(message, Mapping) else None
        if kind in ("ai", "assistant"):
            content = message.get("content", "")
            if isinstance(content, list):
                content = "".join(b.get("text", "") if isinstance(b, Mapping) else str(b) for b in content)
            return str(content)
    raise ExpertsUnavailableError(f"the {persona} graph at {url} returned no answer")
