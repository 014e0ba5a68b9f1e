"""Refine the rule-derived facts with a model that supports structured output.

The rules never miss what the task states in words of the field; a capable
model reads what they cannot (a paraphrase, an implied role). It may fill a
fact the rules left at its default, never overrule a fact the task's words
set: quality grows with the model, and a small model's guess cannot make the
standard less correct. Models without structured output are not asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from agents.standard.facts import fact
from agents.standard.types import FactDict
from tools.catalogue.vocabulary import FACT_SCHEMA

Jurisdiction = Literal["eu", "cn", "us", "other"]
Role = Literal["provider", "deployer", "importer", "distributor", "gpai_provider"]


class TaskFacts(BaseModel):
    """The applicability facts of an AI-compliance task, in the catalogue's vocabulary."""

    jurisdictions: list[Jurisdiction] = Field(
        default_factory=list,
        description="Where the system is used or offered: eu, cn (mainland China), us, other.",
    )
    roles: list[Role] = Field(
        default_factory=list,
        description="The organisation's EU AI Act role(s): provider (builds it or has it built and offers it "
        "under its name), deployer (uses it professionally), importer, distributor, gpai_provider.",
    )
    use_categories: list[str] = Field(
        default_factory=list,
        description="EU AI Act high-risk areas: annex3:biometrics, annex3:critical_infrastructure, "
        "annex3:education, annex3:employment, annex3:essential_services, annex3:law_enforcement, "
        "annex3:migration, annex3:justice, annex1:product. Empty if none.",
    )
    data: list[str] = Field(
        default_factory=list,
        description="personal, special_category, health, biometric, children. Empty if none.",
    )
    automated_decisions: bool = Field(
        default=False, description="Whether the system decides about people with legal or similar effects."
    )
    system_kinds: list[str] = Field(
        default_factory=list,
        description="chatbot, generated_content, deepfake, emotion_recognition, biometric_categorisation, "
        "remote_biometric_id, gpai_model, gpai_systemic_risk. Empty if none.",
    )
    public_sector: bool = Field(default=False, description="A public body or a provider of public services.")


_PROMPT = (
    "Read this AI-compliance task and give its applicability facts. Use only what the task says or "
    "clearly implies; leave a list empty when the task does not say.\n\nTask:\n{task}"
)
_REASON = {"en": "read from the task by the model", "zh": "由模型从任务中读出"}


async def refine_facts(
    model: BaseChatModel, task: str, facts: Mapping[str, FactDict], language: str
) -> tuple[dict[str, FactDict], str]:
    """Fill the facts the rules left at their default with a model's structured reading.

    Returns:
        The facts, and a warning line when the model could not answer (else "").
    """
    out = dict(facts)
    try:
        structured = model.with_structured_output(TaskFacts)
        answer: Any = await structured.ainvoke(
            _PROMPT.format(task=task),
            config={
                "metadata": {"persona": "coordinator"},
                "tags": ["persona:coordinator"],
                "run_name": "facts",
            },
        )
    except Exception as exc:  # a model that cannot do structured output keeps the rule facts
        return out, f"the model could not refine the applicability facts ({type(exc).__name__}); rules only"
    if not isinstance(answer, TaskFacts):
        return out, "the model gave no structured applicability facts; rules only"
    for key, value in answer.model_dump().items():
        current = out.get(key)
        if current is None or current["source"] != "default":
            continue
        kind, allowed = FACT_SCHEMA[key]
        if kind == "list":
            value = [v for v in allowed if v in set(value)]
            if not value:
                continue
        elif kind == "bool" and not value:
            continue
        out[key] = fact(key, value, _REASON.get(language, _REASON["en"]), "model")
    return out, ""
