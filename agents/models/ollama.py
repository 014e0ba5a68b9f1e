"""The ``ollama/`` backend: a ChatOllama that fails fast and says what to do.

`load_ollama_chat` maps the shared `ModelOptions` onto Ollama's option names,
checks once per (host, model) per process (GET ``/api/tags``, about two
seconds at most) that the server answers and has the model, and returns a `CouncilChatOllama`. That subclass
turns the connection and "model not found" errors of later calls into the same
one-line `ModelUnavailableError`, instead of a raw httpx traceback.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_ollama import ChatOllama
from ollama import ResponseError

from agents.models.errors import ModelUnavailableError
from agents.models.options import ModelOptions
from agents.models.preflight import preflight_once
from agents.models.translated import TranslatedErrors

__all__ = [
    "CouncilChatOllama",
    "load_ollama_chat",
    "model_in_tags",
    "normalize_ollama_host",
    "preflight_ollama",
]

#: Env var Ollama itself reads for its address.
HOST_ENV = "OLLAMA_HOST"
DEFAULT_PORT = 11434
DEFAULT_HOST = f"http://127.0.0.1:{DEFAULT_PORT}"
#: The preflight is a liveness probe: a healthy local server answers in milliseconds.
PREFLIGHT_TIMEOUT_S = 2.0
#: Connect timeout for real calls. Reads stay unbounded: a big model may think for minutes.
CALL_CONNECT_TIMEOUT_S = 5.0

# The ollama client re-raises httpx.ConnectError as the builtin ConnectionError for
# plain requests but lets it through untouched for streamed ones (which ChatOllama
# always uses), so both must be caught.
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)


def normalize_ollama_host(host: str | None = None) -> str:
    """Turn an Ollama address into a base URL a client can use.

    Accepts the forms the ``ollama`` CLI accepts for ``OLLAMA_HOST``: ``host``,
    ``host:port``, ``:port``, ``http(s)://host[:port][/path]``. As in Ollama, a
    bare host gets port 11434 while an explicit ``http://``/``https://`` without a
    port gets 80/443. The bind-all address (``0.0.0.0``, ``::``) is what a server
    listens on, not something to connect to, so it becomes loopback.

    Args:
        host: The address; None or blank means ``$OLLAMA_HOST``, else the default.

    Returns:
        A URL like ``http://127.0.0.1:11434``, without a trailing slash.

    Raises:
        ValueError: for an address that cannot be parsed (e.g. a bad port).

    """
    raw = (host or "").strip() or os.environ.get(HOST_ENV, "").strip()
    if not raw:
        return DEFAULT_HOST
    scheme, sep, hostport = raw.partition("://")
    port = DEFAULT_PORT
    if not sep:
        scheme, hostport = "http", raw
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    else:
        raise ValueError(f"invalid Ollama host {raw!r}: the scheme must be http or https")
    split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    try:
        port = split.port or port
    except ValueError as exc:
        raise ValueError(f"invalid Ollama host {raw!r}: {exc}") from exc
    name = split.hostname or "127.0.0.1"
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        pass  # a DNS name such as "localhost" or "gpu-box"
    else:
        if addr.is_unspecified:
            addr = ipaddress.ip_address("127.0.0.1" if addr.version == 4 else "::1")
        name = f"[{addr}]" if addr.version == 6 else str(addr)
    path = split.path.strip("/")
    return f"{scheme}://{name}:{port}" + (f"/{path}" if path else "")


def _canonical_model_name(name: str) -> str:
    # Ollama adds ":latest" to an untagged name; a ":" before the last "/" is a
    # registry port ("registry.local:5000/llama3"), not a tag.
    name = name.strip().casefold()
    return name if ":" in name.rpartition("/")[2] else f"{name}:latest"


def model_in_tags(name: str, listed: Iterable[str]) -> bool:
    """Whether Ollama would resolve `name` to one of the `listed` models.

    ``llama3.1`` matches ``llama3.1:latest`` but not ``llama3.1:8b``, as in Ollama.
    """
    wanted = _canonical_model_name(name)
    return any(_canonical_model_name(m) == wanted for m in listed)


def _unreachable(host: str) -> str:
    return f"Ollama is not reachable at {host}: start it with `ollama serve` (or set {HOST_ENV})"


def _missing(host: str, name: str) -> str:
    return f"Ollama at {host} has no model {name!r}: run `ollama pull {name}`"


def preflight_ollama(host: str, name: str) -> None:
    """Check that the server at `host` answers and has model `name`.

    Args:
        host: A base URL as returned by `normalize_ollama_host`.
        name: The model name as the user wrote it.

    Raises:
        ModelUnavailableError: server not reachable, not Ollama, or model not pulled.

    """
    try:
        # One attempt: httpx does not retry by default, and a probe should not.
        response = httpx.get(f"{host}/api/tags", timeout=PREFLIGHT_TIMEOUT_S)
    except httpx.TransportError as exc:
        raise ModelUnavailableError(_unreachable(host)) from exc
    try:
        response.raise_for_status()
        entries = response.json()["models"]
        listed = [str(e.get("model") or e.get("name") or "") for e in entries]
    except (httpx.HTTPStatusError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelUnavailableError(
            f"{host} answered GET /api/tags with HTTP {response.status_code} and no model list: "
            f"is it an Ollama server? (set {HOST_ENV} to the right address)"
        ) from exc
    if not model_in_tags(name, listed):
        raise ModelUnavailableError(_missing(host, name))


class CouncilChatOllama(TranslatedErrors, ChatOllama):
    """ChatOllama whose unreachable-server and missing-model errors are `ModelUnavailableError`.

    Only the four entry points LangChain calls are wrapped; everything else,
    including the request it sends, is ChatOllama's own.
    """

    def supports_tool_calling(self) -> bool:
        """Ollama serves tools natively for the models that have them.

        A model without tool support answers the call with an error, which the
        council treats like a malformed call: it falls back to the fixed workflow.
        """
        return True

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        host = self.base_url or DEFAULT_HOST
        try:
            yield
        except _CONNECT_ERRORS as exc:
            raise ModelUnavailableError(_unreachable(host)) from exc
        except ResponseError as exc:
            # Ollama answers 404 to /api/chat for a model that is not pulled (or was removed).
            if exc.status_code == 404:
                raise ModelUnavailableError(_missing(host, self.model)) from exc
            raise


def load_ollama_chat(name: str, options: ModelOptions, host: str | None = None) -> BaseChatModel:
    """Return a chat model for Ollama model `name`, after checking it is there.

    Args:
        name: Ollama model name, e.g. ``llama3.1`` or ``qwen2.5:7b``.
        options: Validated decoding options.
        host: Server address; None means ``$OLLAMA_HOST``, else ``127.0.0.1:11434``.

    Returns:
        A `CouncilChatOllama`.

    Raises:
        ModelUnavailableError: the server is not reachable or lacks the model.
        ValueError: `host` cannot be parsed.

    """
    base_url = normalize_ollama_host(host)
    # Looked up at call time (not bound at import) so tests can replace the probe.
    preflight_once("ollama", base_url, name, lambda url, model: preflight_ollama(url, model))
    return CouncilChatOllama(
        model=name,
        base_url=base_url,
        temperature=options.temperature,
        top_p=options.top_p,
        seed=options.seed,
        num_predict=options.max_new_tokens,
        repeat_penalty=options.repetition_penalty,
        # ChatOllama would send an empty list as `"stop": []`, overriding the Modelfile's
        # stop words; None leaves the key out.
        stop=list(options.stop) or None,
        num_ctx=options.num_ctx,
        client_kwargs={"timeout": httpx.Timeout(None, connect=CALL_CONNECT_TIMEOUT_S)},
    )
