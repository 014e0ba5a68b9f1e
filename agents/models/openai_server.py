"""The ``openai/`` backend: a model on an OpenAI-compatible server (vLLM, TGI, llama.cpp, LM Studio).

`load_openai_chat` maps the shared `ModelOptions` onto the chat-completions
request, checks once per (base URL, model) per process that the server answers
GET ``{base}/models`` and lists the model, and returns a `CouncilChatOpenAI`
whose connection and "model not found" errors are one-line
`ModelUnavailableError`s. The API key comes only from the environment
(``COUNCIL_OPENAI_API_KEY``, else ``OPENAI_API_KEY``); a local server needs none.

Tool calling is decided by configuration, not probing: `supports_tool_calling`
says yes, as for Ollama. A server or model without tools answers the tool call
with an error or with plain text, and the council then falls back to the fixed
workflow, so a probe request per process would buy nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agents.models.errors import ModelUnavailableError, redact_credentials
from agents.models.options import ModelOptions
from agents.models.preflight import preflight_once
from agents.models.translated import TranslatedErrors
from tools.settings_registry import BY_NAME

__all__ = [
    "BASE_URL_ENV",
    "CouncilChatOpenAI",
    "load_openai_chat",
    "normalize_base_url",
    "preflight_openai",
]

#: Env var with the operator's server URL (``Context.openai_base_url`` defaults to it).
BASE_URL_ENV = "COUNCIL_OPENAI_BASE_URL"
#: API key env vars, first one set wins.
API_KEY_ENVS = (BY_NAME["openai_api_key"].env, "OPENAI_API_KEY")
#: vLLM's and llama.cpp's default port; LM Studio uses 1234, TGI 8080.
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
#: Local servers check no key, but the client insists on one.
_NO_KEY = "no-key"
PREFLIGHT_TIMEOUT_S = 2.0
#: Connect timeout for real calls. Reads stay unbounded: a big model may think for minutes.
CALL_CONNECT_TIMEOUT_S = 5.0


def normalize_base_url(base_url: str | None = None) -> str:
    """The server's API root, no trailing slash: `base_url`, else ``$COUNCIL_OPENAI_BASE_URL``, else default.

    Raises:
        ValueError: for a URL that is not http(s).
    """
    raw = (base_url or "").strip() or os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    parsed = httpx.URL(raw) if "://" in raw else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"invalid OpenAI-compatible base URL {redact_credentials(raw)!r}: use http(s)://host:port/v1"
        )
    return raw.rstrip("/")


def _api_key() -> str:
    # The registry's setting first, then the variable the OpenAI client itself reads.
    own: str = BY_NAME["openai_api_key"].from_env()
    return own or os.environ.get(API_KEY_ENVS[1], "").strip() or _NO_KEY


def _unreachable(base_url: str) -> str:
    return (
        f"cannot reach OpenAI-compatible server at {redact_credentials(base_url)}: "
        f"start it (vLLM, TGI, llama-server, LM Studio) or set {BASE_URL_ENV}"
    )


def _missing(base_url: str, name: str, served: list[str] | None = None) -> str:
    listed = f" (it serves: {', '.join(served) or 'nothing'})" if served is not None else ""
    return f"server at {redact_credentials(base_url)} does not serve model {name!r}{listed}"


def preflight_openai(base_url: str, name: str) -> None:
    """Check that the server at `base_url` answers ``GET /models`` and lists model `name`.

    Raises:
        ModelUnavailableError: not reachable, not an OpenAI-compatible server, or no such model.
    """
    try:
        response = httpx.get(
            f"{base_url}/models",
            headers={"Authorization": f"Bearer {_api_key()}"},
            timeout=PREFLIGHT_TIMEOUT_S,
        )
    except httpx.TransportError as exc:
        raise ModelUnavailableError(_unreachable(base_url)) from exc
    try:
        response.raise_for_status()
        served = [str(entry["id"]) for entry in response.json()["data"]]
    except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailableError(
            f"{redact_credentials(base_url)} answered GET /models with HTTP {response.status_code} and no "
            f"model list: is it an OpenAI-compatible server? (set {BASE_URL_ENV} to its /v1 URL)"
        ) from exc
    if name not in served:
        raise ModelUnavailableError(_missing(base_url, name, served))


class CouncilChatOpenAI(TranslatedErrors, ChatOpenAI):
    """ChatOpenAI whose unreachable-server and unknown-model errors are `ModelUnavailableError`."""

    def supports_tool_calling(self) -> bool:
        """Yes by configuration; a server without tools makes the council fall back (module docstring)."""
        return True

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        # ChatOpenAI sends only `max_completion_tokens`; older vLLM/TGI and llama-server read `max_tokens`.
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload["max_completion_tokens"]
        return payload

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        base_url = self.openai_api_base or DEFAULT_BASE_URL
        try:
            yield
        except openai.APIConnectionError as exc:
            raise ModelUnavailableError(_unreachable(base_url)) from exc
        except openai.NotFoundError as exc:
            raise ModelUnavailableError(_missing(base_url, self.model_name)) from exc


def load_openai_chat(name: str, options: ModelOptions, base_url: str | None = None) -> BaseChatModel:
    """Return a chat model for `name` on an OpenAI-compatible server, after checking it is served.

    ``num_ctx`` is not sent: such a server fixes its context window at launch.

    Args:
        name: The model id the server lists under GET /models.
        options: Validated decoding options.
        base_url: The API root (``http://host:8000/v1``); None means ``$COUNCIL_OPENAI_BASE_URL``.

    Raises:
        ModelUnavailableError: the server is not reachable or does not serve the model.
        ValueError: `base_url` is not an http(s) URL.
    """
    url = normalize_base_url(base_url)
    # Looked up at call time (not bound at import) so tests can replace the probe.
    preflight_once("openai", url, name, lambda u, m: preflight_openai(u, m))
    extra: dict[str, Any] = {}
    if options.repetition_penalty is not None:
        # Not an OpenAI field: vLLM reads `repetition_penalty`, llama-server `repeat_penalty`.
        penalty = options.repetition_penalty
        extra = {"repetition_penalty": penalty, "repeat_penalty": penalty}
    return CouncilChatOpenAI(
        model=name,
        base_url=url,
        api_key=SecretStr(_api_key()),
        temperature=options.temperature,
        top_p=options.top_p,
        seed=options.seed,
        max_completion_tokens=options.max_new_tokens,
        stop_sequences=list(options.stop) or None,
        extra_body=extra or None,
        max_retries=0,
        timeout=httpx.Timeout(None, connect=CALL_CONNECT_TIMEOUT_S),
    )
