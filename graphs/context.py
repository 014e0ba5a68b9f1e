"""Runtime settings of the graphs, as a `Context` dataclass (`context_schema=`).

Every field has a description (shown in LangGraph Studio) and a default read
from an environment variable, so the same settings work from the CLI, Studio,
the HTTP API and an embedding app.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

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


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _persona_model_field(who: str, env: str) -> Any:
    """A per-persona model override: empty means the shared `model`."""
    return field(
        default_factory=_env(env, str, ""),
        metadata={"description": f"The {who}'s own model spec; empty: `model`. Env: {env}."},
    )


Mode = Literal["auto", "agentic", "workflow"]
MODES: tuple[str, ...] = ("auto", "agentic", "workflow")
#: Persona name -> the Context field that may give it its own model.
PERSONA_MODEL_FIELDS = {
    "coordinator": "coordinator_model",
    "scientist": "scientist_model",
    "legal_expert": "legal_expert_model",
}


@dataclass(kw_only=True)
class Context:
    """Settings for one run: models, decoding, retrieval and how the council works."""

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

    history_share: float = field(
        default_factory=_env("COUNCIL_HISTORY_SHARE", float, 0.1),
        metadata={
            "description": "Share of the context window that earlier turns may take in a prompt, as what "
            "they decided (facts, requirement ids, requests), never as earlier reports. "
            "Env: COUNCIL_HISTORY_SHARE."
        },
    )

    coordinator_model: str = _persona_model_field("coordinator", "COUNCIL_COORDINATOR_MODEL")
    scientist_model: str = _persona_model_field("scientist", "COUNCIL_SCIENTIST_MODEL")
    legal_expert_model: str = _persona_model_field("legal expert", "COUNCIL_LEGAL_EXPERT_MODEL")
    mode: Mode = field(
        default_factory=_env("COUNCIL_MODE", str, "auto"),  # type: ignore[arg-type]
        metadata={
            "description": "'agentic': the coordinator calls experts and search as tools; 'workflow': every "
            "expert gets the task; 'auto': agentic only on models that can call tools. Env: COUNCIL_MODE."
        },
    )
    max_rounds: int = field(
        default_factory=_env("COUNCIL_MAX_ROUNDS", int, 3),
        metadata={"description": "Most rounds of coordinator tool calls per turn. Env: COUNCIL_MAX_ROUNDS."},
    )
    index_dir: str = field(
        default_factory=_env("COUNCIL_INDEX_DIR", str, ""),
        metadata={
            "description": "Where the retrieval index lives; empty: the user data dir. "
            "Env: COUNCIL_INDEX_DIR."
        },
    )
    docs_dir: str = field(
        default_factory=_env("COUNCIL_DOCS_DIR", str, ""),
        metadata={
            "description": "A folder of your own .md/.txt/.pdf/.html files to index beside the bundled "
            "corpus; empty: none. Env: COUNCIL_DOCS_DIR."
        },
    )
    retrieval_k: int = field(
        default_factory=_env("COUNCIL_RETRIEVAL_K", int, 6),
        metadata={"description": "Passages retrieved per turn. Env: COUNCIL_RETRIEVAL_K."},
    )
    web_search: bool = field(
        default_factory=_env("COUNCIL_WEB_SEARCH", _flag, True),
        metadata={
            "description": "Search the web with Tavily too (only when TAVILY_API_KEY is set). "
            "Env: COUNCIL_WEB_SEARCH."
        },
    )
    experts_url: str = field(
        default_factory=_env("COUNCIL_EXPERTS_URL", str, ""),
        metadata={
            "description": "URL of a LangGraph server hosting the `scientist` and `legal_expert` graphs; "
            "empty: experts run in-process. Env: COUNCIL_EXPERTS_URL."
        },
    )
    review: bool = field(
        default_factory=_env("COUNCIL_REVIEW", _flag, False),
        metadata={
            "description": "Pause each turn after the applicability facts for a person to approve or correct "
            "them (and leave a note for the experts) before the council drafts; needs a checkpointer. "
            "Env: COUNCIL_REVIEW."
        },
    )
    experts_timeout_s: float = field(
        default_factory=_env("COUNCIL_EXPERTS_TIMEOUT_S", float, 600.0),
        metadata={"description": "Seconds to wait for a remote expert. Env: COUNCIL_EXPERTS_TIMEOUT_S."},
    )

    def __post_init__(self) -> None:
        """Reject settings no run could use, naming the field."""
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 1 <= self.max_rounds <= 20:
            raise ValueError(f"max_rounds must be between 1 and 20, not {self.max_rounds}")
        if not 1 <= self.retrieval_k <= 50:
            raise ValueError(f"retrieval_k must be between 1 and 50, not {self.retrieval_k}")
        if self.experts_timeout_s <= 0:
            raise ValueError(f"experts_timeout_s must be positive, not {self.experts_timeout_s}")

    def persona_model(self, persona: str) -> str:
        """The model spec persona `persona` runs on: its own if set, else `model`."""
        own = getattr(self, PERSONA_MODEL_FIELDS.get(persona, ""), "")
        return own or self.model

    def model_options(self) -> dict[str, Any]:
        """The decoding options to pass to `load_chat_model`."""
        names = {"temperature", "top_p", "seed", "max_new_tokens", "repetition_penalty", "num_ctx"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}
