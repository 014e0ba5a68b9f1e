"""The council's agents: how each persona is prompted, which model it runs on, how it answers.

Graph nodes (graphs/compliance.py) decide *when* a persona speaks; this module
decides *what it is sent*. Every persona shares the one loaded model unless
its own spec is given: `load_chat_model` returns instances over one engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from agents.history import approx_tokens, fit_history
from agents.models import load_chat_model
from agents.personas import EXPERTS, load_persona
from agents.prose import prose_reply
from agents.report import clip, labels
from agents.standard.requirements import fact_labels, value_label
from agents.standard.review import review_labels
from agents.standard.types import FactDict, OpinionDict, PassageDict, RequirementDict
from prompts import load_json, load_prompt, quoted, render_prompt

#: Characters of each passage put in a prompt (about 150 tokens).
PROMPT_PASSAGE_CHARS = 600
#: Source id shown in prompts as the citation example when no passage was retrieved.
EXAMPLE_ID = "eu-ai-act:art-14"
#: Tokens of requirements shown to a model, and characters of each: enough to tailor, bounded for
#: the context window and for CPU prefill.
PROMPT_REQUIREMENTS_TOKENS = 1500
PROMPT_REQUIREMENT_CHARS = 160
PROMPT_REQUIREMENT_CHARS_ZH = 60


def model_for(spec: str, options: Mapping[str, Any]) -> BaseChatModel:
    """The chat model for `spec` with the run's decoding options (one engine per model)."""
    return load_chat_model(spec, **options)


async def amodel_for(spec: str, options: Mapping[str, Any]) -> BaseChatModel:
    """`model_for`, with any loading done off the event loop.

    The first use of an `hf/` model loads (or converts) its weights: seconds of
    blocking work that must not stall a server's event loop.
    """
    model = await asyncio.to_thread(model_for, spec, options)
    engine = getattr(model, "engine", None)
    if callable(engine):
        await asyncio.to_thread(engine)
    return model


def persona_config(persona: str) -> RunnableConfig:
    """Callback config that tags a model call with the persona speaking.

    LangGraph's `messages` stream carries this metadata with every token, which
    is how the CLI and HTTP clients tell the speakers apart.
    """
    return {"metadata": {"persona": persona}, "tags": [f"persona:{persona}"], "run_name": persona}


def passages_block(passages: Sequence[PassageDict], language: str = "en") -> str:
    """Passages as delimited, quoted reference data (never as instructions)."""
    from tools import format_passages

    if not passages:
        return "(No reference passages were found for this task.)"
    return format_passages([_clipped(p, language) for p in passages])


def _clipped(p: PassageDict, language: str) -> Any:
    from tools import Passage

    # Prompts get the gist of each passage: prefill dominates a turn on CPU, and the
    # report quotes the passages itself; the whole text stays in state. The bilingual
    # key-term line serves retrieval, not the reader, and a CJK character costs a
    # token or more, so it goes, as does the Chinese summary of an English task.
    drop = ("Key terms:",) if language == "zh" else ("Key terms:", "摘要：")
    text = "\n".join(ln for ln in p.get("text", "").splitlines() if not ln.startswith(drop))
    if len(text) > PROMPT_PASSAGE_CHARS:
        text = text[:PROMPT_PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
    return Passage(
        source_id=p["source_id"],
        title=p.get("title", ""),
        locator=p.get("locator", ""),
        text=text,
        origin=p.get("origin", "corpus"),  # type: ignore[arg-type]
        url=None,  # the references carry the URL; the model needs only the id
        score=p.get("score", 0.0),
    )


def example_id(passages: Sequence[PassageDict], requirements: Sequence[RequirementDict] = ()) -> str:
    """A real source id to show as the citation example."""
    if requirements:
        return requirements[0]["passage"]
    return passages[0]["source_id"] if passages else EXAMPLE_ID


def facts_block(facts: Mapping[str, FactDict], language: str) -> str:
    """The applicability facts as short lines for a prompt."""
    names = fact_labels(language)["keys"]
    none = fact_labels(language)["none"]
    lines = []
    for key, f in facts.items():
        value = f["value"]
        shown = (
            ", ".join(value_label(key, v, language) for v in value) or none
            if isinstance(value, list)
            else value_label(key, value, language)
        )
        lines.append(f"- {names.get(key, key)}: {shown}")
    return "\n".join(lines) or none


def requirements_block(requirements: Sequence[RequirementDict], language: str) -> str:
    """The numbered requirements as one short line each, within a token budget, for a prompt.

    A model tailors the requirements; it does not need their full text (the
    report has it), and forty Chinese statements in full would not fit an 8k
    window beside the rest of the prompt.
    """
    if not requirements:
        return labels(language)["none"]
    limit = PROMPT_REQUIREMENT_CHARS_ZH if language == "zh" else PROMPT_REQUIREMENT_CHARS
    shown: list[str] = []
    used = 0
    for r in requirements:
        line = f"{r['number']} [{r['passage']}] {clip(r['statement'], limit)}"
        used += approx_tokens(line)
        if used > PROMPT_REQUIREMENTS_TOKENS:
            rest = len(requirements) - len(shown)
            shown.append(f"(… {rest} more)" if language != "zh" else f"（……另有 {rest} 项）")
            break
        shown.append(line)
    return "\n".join(shown)


def task_text(task: str, request: str, language: str, note: str = "") -> str:
    """The thread's task, with this turn's follow-up request and the reviewer's note when there are any."""
    text = task
    if request.strip() and request.strip() != task.strip():
        said = "用户本轮的后续要求：" if language == "zh" else "The user's follow-up request now: "
        text = f"{text}\n\n{said}{request}"
    if note.strip():
        text = f"{text}\n\n{review_labels(language)['note_for_experts']}{note}"
    return text


def default_question(persona: str, language: str) -> str:
    """What the fixed workflow asks expert `persona`."""
    table: dict[str, dict[str, str]] = load_json("expert_questions.json")
    by_persona = table.get(language, table["en"])
    return by_persona.get(persona) or labels(language)["default_question"]


def expert_request(
    *,
    question: str,
    task: str,
    language: str,
    passages: Sequence[PassageDict],
    facts: Mapping[str, FactDict] | None = None,
    requirements: Sequence[RequirementDict] = (),
) -> HumanMessage:
    """The message that asks an expert its question, with the facts, requirements and passages."""
    example_number = requirements[0]["number"] if requirements else "1.1"
    return HumanMessage(
        render_prompt(
            "expert_question.md",
            task=task,
            facts=facts_block(facts or {}, language),
            requirements=requirements_block(requirements, language),
            question=question or labels(language)["default_question"],
            passages=passages_block(passages, language),
            language_instruction=labels(language)["language_instruction"],
            example_id=example_id(passages, requirements),
            example_number=example_number,
        )
    )


def expert_prompt(
    persona: str,
    messages: Sequence[BaseMessage],
    model: BaseChatModel,
    *,
    num_ctx: int | None,
    max_new_tokens: int,
) -> list[BaseMessage]:
    """What expert `persona` is sent to answer the last of `messages`, with what fits of the rest.

    Args:
        persona: An expert's name (``scientist``, ``legal_expert``).
        messages: The conversation, ending in the request to answer.
        model: The expert's chat model.
        num_ctx: The context window to fit into (None: the model's own).
        max_new_tokens: Tokens reserved for the reply.
    """
    if not messages:
        raise ValueError(f"{persona}: nothing to answer")
    # Everything the experts share comes first and the persona last, nearest the
    # answer: the hf engine then reads the shared prefix (system prompt, history,
    # task, passages) once for all experts of a batch instead of once each.
    system = SystemMessage(load_prompt("expert_system.md").strip())
    request = with_role(messages[-1], persona)
    history = fit_history(
        model, messages[:-1], [system, request], num_ctx=num_ctx, max_new_tokens=max_new_tokens
    )
    return [system, *history, request]


async def expert_reply(
    persona: str,
    messages: Sequence[BaseMessage],
    model: BaseChatModel,
    *,
    num_ctx: int | None,
    max_new_tokens: int,
    stop_repeats: bool = True,
) -> AIMessage:
    """Expert `persona` answers the last message of `messages` (arguments as `expert_prompt`).

    With `stop_repeats` the reply ends before the first line it repeats (`agents.prose`).
    """
    prompt = expert_prompt(persona, messages, model, num_ctx=num_ctx, max_new_tokens=max_new_tokens)
    reply = await prose_reply(model, prompt, config=persona_config(persona), stop_repeats=stop_repeats)
    return AIMessage(content=reply.text, name=persona, response_metadata=reply.response_metadata)


def with_role(request: BaseMessage, persona: str) -> HumanMessage:
    """The request to an expert with its role (the persona's seed memory) appended."""
    role = render_prompt("expert_role.md", seed_memory=load_persona(persona).seed_memory)
    return HumanMessage(f"{request.text.rstrip()}\n\n{role.strip()}")


def opinion(persona: str, question: str, answer: str, model_spec: str) -> OpinionDict:
    """An expert's answer as stored in state."""
    return {"persona": persona, "question": question, "answer": answer.strip(), "model": model_spec}


def expert_tools() -> list[dict[str, Any]]:
    """The experts as tools the coordinator can call (OpenAI tool schemas).

    The graph, not the model layer, runs these calls: each becomes a parallel
    `consult` branch, so experts asked in one round work at the same time.
    """
    out = []
    for name in EXPERTS:
        persona = load_persona(name)
        out.append(
            {
                "type": "function",
                "function": {
                    "name": persona.tool_name,
                    "description": persona.tool_description,
                    "parameters": {
                        "type": "object",
                        "properties": {"question": {"type": "string", "description": "The full question."}},
                        "required": ["question"],
                    },
                },
            }
        )
    return out


def coordinator_request(
    *,
    task: str,
    passages: Sequence[PassageDict],
    max_rounds: int,
    language: str,
    requirements: Sequence[RequirementDict] = (),
) -> list[BaseMessage]:
    """The coordinator's opening messages in agentic mode."""
    system = SystemMessage(
        load_persona("coordinator").seed_memory + "\n\n" + labels(language)["language_instruction"]
    )
    human = HumanMessage(
        render_prompt(
            "coordinator_agentic.md",
            task=task,
            requirements=requirements_block(requirements, language),
            passages=passages_block(passages, language),
            max_rounds=max_rounds,
        )
    )
    return [system, human]


def synthesis_request(
    *,
    task: str,
    language: str,
    facts: Mapping[str, FactDict],
    requirements: Sequence[RequirementDict],
    opinions: Sequence[OpinionDict],
) -> HumanMessage:
    """The message asking the coordinator for the standard's overview."""
    lab = labels(language)
    # What another model wrote is data to weigh, not instructions: each answer is quoted.
    shown = "\n\n".join(
        quoted("opinion", o["answer"] or lab["none"], expert=load_persona(o["persona"]).display(language))
        for o in opinions
    )
    return HumanMessage(
        render_prompt(
            "synthesis.md",
            task=task,
            facts=facts_block(facts, language),
            requirements=requirements_block(requirements, language),
            opinions=shown or lab["none"],
            language_instruction=lab["language_instruction"],
        )
    )
