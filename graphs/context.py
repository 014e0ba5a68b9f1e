"""Runtime settings of the graphs, as a `Context` dataclass (`context_schema=`).

Every field has a description (shown in LangGraph Studio) and a default read
from an environment variable, so the same settings work from the CLI, Studio,
the HTTP API and an embedding app.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from agents.models.factory import MODEL_ENV, default_model_spec

T = TypeVar("T")


def _env(name: str, cast: Callable[[str], T], default: T) -> Callable[[], T]:
    """A default factory reading `name` from the environment, cast, or `default`."""

    def factory() -> T:
        raw = os.environ.get(name, "").strip()
        if not raw:
            return default
        try:
            return cast(raw)
        except ValueError:
            raise ValueError(f"invalid value for ${name}: {raw!r}") from None

    return factory


def _optional_int(raw: str) -> int | None:
    return int(raw) if raw.lower() not in ("", "none") else None


@dataclass(kw_only=True)
class Context:
    """Settings for one run: which model, and how it decodes."""

    model: str = field(
        default_factory=default_model_spec,
        metadata={
            "description": f"Model spec: 'hf/<hub id or local path>' or 'ollama/<name>'. "
            f"'hf/embedded' is the bundled SmolLM2-135M-Instruct. Env: {MODEL_ENV}."
        },
    )
    temperature: float = field(
        default_factory=_env("COUNCIL_TEMPERATURE", float, 0.0),
        metadata={"description": "Sampling temperature; 0 is greedy. Env: COUNCIL_TEMPERATURE."},
    )
    top_p: float = field(
        default_factory=_env("COUNCIL_TOP_P", float, 1.0),
        metadata={"description": "Nucleus sampling mass in (0, 1]. Env: COUNCIL_TOP_P."},
    )
    seed: int | None = field(
        default_factory=_env("COUNCIL_SEED", _optional_int, None),
        metadata={"description": "Random seed for reproducible sampling. Env: COUNCIL_SEED."},
    )
    max_new_tokens: int = field(
        default_factory=_env("COUNCIL_MAX_NEW_TOKENS", int, 512),
        metadata={"description": "Most tokens per reply (Ollama: num_predict). Env: COUNCIL_MAX_NEW_TOKENS."},
    )
    repetition_penalty: float = field(
        default_factory=_env("COUNCIL_REPETITION_PENALTY", float, 1.1),
        metadata={
            "description": ">1 discourages repeats (Ollama: repeat_penalty). Env: COUNCIL_REPETITION_PENALTY."
        },
    )
    num_ctx: int | None = field(
        default_factory=_env("COUNCIL_NUM_CTX", _optional_int, None),
        metadata={"description": "Context window in tokens; empty: the model's own. Env: COUNCIL_NUM_CTX."},
    )

    def model_options(self) -> dict[str, Any]:
        """The decoding options to pass to `load_chat_model`."""
        names = {"temperature", "top_p", "seed", "max_new_tokens", "repetition_penalty", "num_ctx"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}
