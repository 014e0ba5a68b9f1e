"""Runtime settings of the graphs, as a `Context` dataclass (`context_schema=`).

Every field has a description (shown in LangGraph Studio) and a default read
from an environment variable, so the same settings work from the CLI, Studio,
the HTTP API and an embedding app.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from agents.models.factory import default_model_spec
from tools.settings_registry import BY_NAME, RUN_SETTINGS


def _field(name: str) -> Any:
    """A `Context` field derived from the registry: env-var default factory and description."""
    setting = BY_NAME[name]
    return field(
        default_factory=lambda: setting.from_env(),
        metadata={"description": setting.context_description()},
    )


Mode = Literal["auto", "agentic", "workflow"]
MODES: tuple[str, ...] = BY_NAME["mode"].choices
#: Persona name -> the Context field that may give it its own model.
PERSONA_MODEL_FIELDS = {
    "coordinator": "coordinator_model",
    "scientist": "scientist_model",
    "legal_expert": "legal_expert_model",
}


@dataclass(kw_only=True)
class Context:
    """Settings for one run: models, decoding, retrieval and how the council works."""

    # The model's default is computed (the factory's embedded spec); its text comes from the registry.
    model: str = field(
        default_factory=default_model_spec,
        metadata={"description": BY_NAME["model"].context_description()},
    )
    temperature: float = _field("temperature")
    top_p: float = _field("top_p")
    seed: int | None = _field("seed")
    max_new_tokens: int = _field("max_new_tokens")
    repetition_penalty: float = _field("repetition_penalty")
    stop_repeats: bool = _field("stop_repeats")
    num_ctx: int | None = _field("num_ctx")
    history_share: float = _field("history_share")
    coordinator_model: str = _field("coordinator_model")
    scientist_model: str = _field("scientist_model")
    legal_expert_model: str = _field("legal_expert_model")
    mode: Mode = _field("mode")  # noqa: RUF009 - a field() spec, evaluated per instance
    max_rounds: int = _field("max_rounds")
    index_dir: str = _field("index_dir")
    docs_dir: str = _field("docs_dir")
    retrieval_k: int = _field("retrieval_k")
    web_search: bool = _field("web_search")
    experts_url: str = _field("experts_url")
    openai_base_url: str = _field("openai_base_url")
    review: bool = _field("review")
    experts_timeout_s: float = _field("experts_timeout_s")

    def __post_init__(self) -> None:
        """Reject settings no run could use, naming the field."""
        for setting in RUN_SETTINGS:
            setting.check(getattr(self, setting.name))

    def persona_model(self, persona: str) -> str:
        """The model spec persona `persona` runs on: its own if set, else `model`."""
        own = getattr(self, PERSONA_MODEL_FIELDS.get(persona, ""), "")
        return own or self.model

    def model_options(self, spec: str | None = None) -> dict[str, Any]:
        """Options for `load_chat_model(spec)`: decoding, plus ``base_url`` for ``openai/`` specs."""
        names = {"temperature", "top_p", "seed", "max_new_tokens", "repetition_penalty", "num_ctx"}
        options = {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}
        if spec and spec.strip().startswith("openai/") and self.openai_base_url.strip():
            options["base_url"] = self.openai_base_url.strip()
        return options
