"""The compliance council: persona agents draft an AI-compliance standard, turn by turn.

One turn: **retrieve** passages for the task → **facts**: the applicability
facts (jurisdictions, role, use, data, …; a follow-up corrects them) →
**obligations**: the catalogue's requirements those facts select → **review**
(with ``review`` on: pause for a person to approve or correct the facts) → **plan**
(fixed workflow, or the coordinator calling experts and search as tools) →
**consult** the experts in parallel (`Send`) → **synthesize** the report: the
standard, with the council's prose through a quality gate. The report is
appended to `messages`; a checkpointer makes the conversation a thread, and a
follow-up revises the thread's standard rather than starting another.

Use it three ways:

* ``python -m graphs.compliance "task"`` — the CLI (see `graphs/cli.py`);
* LangGraph Studio / ``langgraph dev`` — `graph` below (no checkpointer: the
  server brings its own);
* embedded — ``build_graph(checkpointer=...)`` and ``invoke``/``ainvoke`` with
  ``context=Context(...)``.
"""

from __future__ import annotations

if __name__ == "__main__":
    # `python -m graphs.compliance` is the CLI: hand over before building anything, so the
    # graph module is imported once, as `graphs.compliance` (when a command needs it), not
    # a second time as `__main__`.
    import sys

    from graphs.cli import main

    sys.exit(main())

import asyncio
import json
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.types import Command, Overwrite, Send, interrupt

from agents.council import (
    amodel_for,
    coordinator_request,
    default_question,
    expert_reply,
    expert_request,
    expert_tools,
    opinion,
    persona_config,
    synthesis_request,
    task_text,
)
from agents.decided import decided_block, earlier_requests
from agents.history import approx_tokens, context_window
from agents.language import detect_language
from agents.models.errors import redact_credentials
from agents.personas import EXPERTS, expert_for_tool, load_persona
from agents.prose import prose_reply
from agents.remote import ask_remote_expert
from agents.report import build_report, labels
from agents.standard.facts import derive_facts
from agents.standard.followup import apply_follow_up
from agents.standard.refine import refine_facts
from agents.standard.requirements import (
    REPORT_SECTIONS,
    build_requirements,
    diff_requirements,
    requirement_passages,
)
from agents.standard.review import ANSWER_SCHEMA, ReviewError, apply_review, parse_answer, review_payload
from agents.standard.similarity import match_use, minilm_embed
from agents.standard.types import OpinionDict, PassageDict, RequirementDict
from graphs.checkpointing import checkpointer_for
from graphs.context import Context
from graphs.limits import RunLimits
from graphs.nodes import add_async_node
from graphs.state import ConsultTask, InputState, OutputState, ResearchTask, State
from tools import RetrievalSettings, SearchResult, get_retriever, search_documents
from tools.catalogue import corpus_passages

#: Malformed coordinator tool calls tolerated per turn before falling back to the workflow.
MAX_TOOL_RETRIES = 1
#: LangGraph's step limit for one turn: the round cap bounds the loop; this backs it up.
RECURSION_LIMIT = 60
#: Characters of a follow-up added to the thread's task for its retrieval query.
QUERY_HISTORY_CHARS = 600
#: Share of the model's context window one message may take (the rest is the prompt and the reply).
MAX_REQUEST_SHARE = 0.5
#: Passages from the user's documents shown per report section.
SECTION_DOCUMENTS = 2
SEARCH_TOOL = "search_documents"
#: Embeds texts for the category similarity of the facts (the retrieval model; tests swap in a fake).
category_embed = minilm_embed


# -- helpers -------------------------------------------------------------------------


def _ctx(runtime: Runtime[Context]) -> Context:
    return runtime.context if isinstance(runtime.context, Context) else Context()


def latest_task(messages: list[AnyMessage]) -> str:
    """The text of the newest human message (the task of this turn)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text.strip()
    return ""


def unanswered(messages: list[AnyMessage]) -> list[AnyMessage]:
    """Requests before the newest one that no reply followed: turns that failed or were refused.

    They are taken out of the thread when the next turn starts, so a refused or
    failed request is not read again as conversation by every later turn.
    """
    out: list[AnyMessage] = []
    waiting: AnyMessage | None = None
    for message in messages[:-1]:
        if isinstance(message, HumanMessage):
            if waiting is not None:
                out.append(waiting)
            waiting = message
        elif isinstance(message, AIMessage):
            waiting = None
    if waiting is not None and isinstance(messages[-1], HumanMessage):
        out.append(waiting)
    return out


async def check_size(ctx: Context, request: str) -> None:
    """Refuse a message that would not leave room for the prompt around it in the model's window."""
    model = await _coordinator_model(ctx)
    window = await asyncio.to_thread(context_window, model, ctx.num_ctx)
    limit = int(window * MAX_REQUEST_SHARE)
    size = approx_tokens(request)
    if size > limit:
        raise ValueError(
            f"the message is about {size} tokens; the model's context window is {window}, so a message "
            f"may use at most {limit}: shorten it, or put long documents in a document folder (docs_dir)"
        )


def retrieval_query(task: str, request: str, follow_up: bool) -> str:
    """The thread's task, plus the follow-up's words on a follow-up ("make privacy stricter")."""
    return f"{task}\n{request[:QUERY_HISTORY_CHARS]}" if follow_up else task


async def search(ctx: Context, query: str, k: int) -> SearchResult:
    """Retrieve passages with the run's retrieval settings (local index, and web if on)."""
    retriever = get_retriever(RetrievalSettings.from_context(ctx))
    return await retriever.asearch(query, k)


def _as_dicts(result: SearchResult) -> list[PassageDict]:
    return [cast(PassageDict, asdict(p)) for p in result.passages]


def _task_text(state: State) -> str:
    """The task as the council reads it: the task, earlier turns' decisions, the request, the note.

    Earlier turns enter every prompt only as the compact `decided` block, never as earlier
    reports or the raw conversation: a follow-up then costs about what a first turn costs.
    """
    record = state.get("review")
    note = record["note"] if record else ""
    task = state["task"]
    if state.get("decided"):
        task = f"{task}\n\n{state['decided']}"
    return task_text(task, state.get("request", ""), state["language"], note)


async def _decided(state: State, ctx: Context, changes: list[Any]) -> str:
    """The "decided so far" block of a follow-up, within the run's history budget."""
    if not state.get("follow_up"):
        return ""
    model = await _coordinator_model(ctx)
    window = await asyncio.to_thread(context_window, model, ctx.num_ctx)
    return decided_block(
        language=state["language"],
        earlier_requests=earlier_requests(state["messages"], state["task"]),
        facts=state.get("facts", {}),
        corrected=state.get("corrected", []),
        strict_topics=state.get("strict_topics", []),
        previous_requirements=state.get("previous_requirements", []),
        changes=changes,
        budget_tokens=int(window * ctx.history_share),
    )


def _extra_passages(state: State) -> list[PassageDict]:
    """Retrieved passages the requirements do not already cite (documents, web, other notes)."""
    cited = {r["passage"] for r in state.get("requirements", [])}
    return [p for p in state.get("passages", []) if p["source_id"] not in cited]


def _consult_sends(state: State, questions: list[tuple[str, str, str | None]]) -> list[Send]:
    return [
        Send(
            "consult",
            ConsultTask(
                persona=persona,
                question=question,
                tool_call_id=call_id,
                task=_task_text(state),
                language=state["language"],
                passages=_extra_passages(state),
                facts=dict(state.get("facts", {})),
                requirements=list(state.get("requirements", [])),
                messages=[],  # earlier turns are in the task text, as what they decided
            ),
        )
        for persona, question, call_id in questions
    ]


def _workflow(state: State) -> list[Send]:
    """The fixed plan: every expert gets the task, the requirements and its own question."""
    language = state["language"]
    return _consult_sends(state, [(name, default_question(name, language), None) for name in EXPERTS])


async def _coordinator_model(ctx: Context) -> BaseChatModel:
    spec = ctx.persona_model("coordinator")
    return await amodel_for(spec, ctx.model_options(spec))


async def _can_call_tools(ctx: Context) -> bool:
    model = await _coordinator_model(ctx)
    probe = getattr(model, "supports_tool_calling", None)
    return bool(probe()) if callable(probe) else False


# -- nodes -----------------------------------------------------------------------------


async def retrieve(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Start a turn: read the request, keep the thread's task on a follow-up, retrieve passages."""
    ctx = _ctx(runtime)
    messages = state.get("messages")
    if not messages:
        raise ValueError("the input needs 'messages': a list of messages ending with the user's task")
    request = latest_task(messages)
    if not request:
        raise ValueError("the task is empty: the last human message must say what to draft")
    await check_size(ctx, request)
    # A thread that already has a standard is revised by what follows, not restarted.
    follow_up = bool(state.get("task")) and bool(state.get("requirements"))
    task = state["task"] if follow_up else request
    language = state.get("language") or detect_language(task) if follow_up else detect_language(task)
    result = await search(ctx, retrieval_query(task, request, follow_up), ctx.retrieval_k)
    return {
        "task": task,
        "request": request,
        "follow_up": follow_up,
        "language": language,
        "passages": Overwrite(_as_dicts(result)),
        "warnings": Overwrite(list(result.warnings)),
        "opinions": Overwrite([]),
        "coordinator_messages": Overwrite([]),
        "rounds": 0,
        "tool_errors": 0,
        "report": "",
        "sources": [],
        "changes": [],
        "section_documents": {},
        "messages": [RemoveMessage(id=m.id) for m in unanswered(messages) if m.id],
        "review_requested": ctx.review,
        "review": None,
        # What this turn's changes are measured against, even when a review re-derives them.
        "previous_requirements": list(state.get("requirements", [])) if follow_up else [],
        "decided": "",
    }


async def facts(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The applicability facts: derived from the task, or the thread's facts as a follow-up corrects them."""
    ctx = _ctx(runtime)
    language = state["language"]
    if state.get("follow_up"):
        revision = await asyncio.to_thread(
            apply_follow_up, state.get("facts", {}), state["request"], language, state["task"]
        )
        topics = [t for t in state.get("strict_topics", []) if t not in revision.relax]
        topics += [t for t in revision.tighten if t not in topics]
        return {
            "facts": revision.facts,
            "corrected": revision.corrected,
            "strict_topics": topics,
            "tightened_topics": revision.tighten,
            "relaxed_topics": revision.relax,
        }
    # Rules, catalogue and labels are data files read on first use: off the event loop.
    derived = await asyncio.to_thread(derive_facts, state["task"], language)
    # A high-risk use described in words the rules do not know is caught by similarity.
    derived = await asyncio.to_thread(match_use, derived, state["task"], language, category_embed)
    warnings: list[str] = []
    if await _can_call_tools(ctx):
        model = await _coordinator_model(ctx)
        derived, note = await refine_facts(model, state["task"], derived, language)
        warnings += [note] if note else []
    return {
        "facts": derived,
        "corrected": [],
        "strict_topics": [],
        "tightened_topics": [],
        "relaxed_topics": [],
        "warnings": warnings,
    }


async def obligations(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The requirements the facts select from the catalogue, and what changed since the last turn."""
    ctx = _ctx(runtime)
    language = state["language"]
    requirements = await asyncio.to_thread(
        build_requirements, state["facts"], language, state.get("strict_topics", [])
    )
    update: dict[str, Any] = {"requirements": requirements}
    if state.get("follow_up"):
        update["changes"] = await asyncio.to_thread(
            partial(
                diff_requirements,
                state.get("previous_requirements", []),
                requirements,
                language=language,
                corrected=state.get("corrected", []),
                tightened_topics=state.get("tightened_topics", []),
                relaxed_topics=state.get("relaxed_topics", []),
            )
        )
    update["decided"] = await _decided(state, ctx, update.get("changes", []))
    update["section_documents"] = await _section_documents(ctx, state["task"], language, requirements)
    return update


async def _section_documents(
    ctx: Context, task: str, language: str, requirements: list[RequirementDict]
) -> dict[str, list[PassageDict]]:
    """Passages of the user's documents that bear on each section, searched per section.

    The catalogue covers the law; what the organisation's own policies say
    about a section can only come from its documents, so each section with
    requirements gets a search of its own when there are documents to search.
    """
    settings = RetrievalSettings.from_context(ctx)
    if settings.docs_dir is None:
        return {}
    names = (await asyncio.to_thread(labels, language))["sections"]
    out: dict[str, list[PassageDict]] = {}
    for section in REPORT_SECTIONS:
        statements = [r["statement"] for r in requirements if r["section"] == section][:3]
        if not statements:
            continue
        query = f"{names[section]}: {task}\n" + " ".join(statements)
        result = await search(ctx, query, 3)
        docs = [p for p in _as_dicts(result) if p.get("origin") == "docs"][:SECTION_DOCUMENTS]
        if docs:
            out[section] = docs
    return out


async def review(state: State) -> Command[Literal["obligations", "plan"]]:
    """With review on: pause for a person to approve or correct the facts before anyone drafts.

    The pause is LangGraph's `interrupt`: the checkpoint keeps it, so the
    turn resumes (``Command(resume=answer)``) in this process or another, after
    a restart, without redoing retrieval or the facts. An answer that cannot
    be read pauses again with the error in the payload. Corrections go back to
    `obligations` once, so the requirements follow the corrected facts.
    """
    if not state.get("review_requested") or state.get("review"):
        return Command(goto="plan")
    language = state["language"]
    facts = state.get("facts", {})
    payload = review_payload(facts, state.get("requirements", []), language)
    answer = interrupt(payload, response_schema=ANSWER_SCHEMA)
    while True:
        try:
            decision = parse_answer(answer, facts, language)
            break
        except ReviewError as exc:
            # Asked again, with what was wrong; every earlier answer stays in the checkpoint.
            answer = interrupt({**payload, "error": str(exc)}, response_schema=ANSWER_SCHEMA)
    corrected_facts, record = apply_review(facts, decision, language)
    if not record["corrected"]:
        return Command(goto="plan", update={"review": record})
    corrected = list(dict.fromkeys([*state.get("corrected", []), *record["corrected"]]))
    return Command(
        goto="obligations", update={"facts": corrected_facts, "corrected": corrected, "review": record}
    )


async def plan(state: State, runtime: Runtime[Context]) -> Command[Literal["coordinator", "consult"]]:
    """Choose the mode: the coordinator as a tool-calling agent, or the fixed workflow."""
    ctx = _ctx(runtime)
    agentic = ctx.mode == "agentic" or (ctx.mode == "auto" and await _can_call_tools(ctx))
    if agentic:
        return Command(goto="coordinator", update={"mode": "agentic"})
    return Command(goto=_workflow(state), update={"mode": "workflow"})


async def coordinator(
    state: State, runtime: Runtime[Context]
) -> Command[Literal["coordinator", "consult", "research", "synthesize"]]:
    """Agentic mode: the coordinator asks experts and searches, round by round, up to the cap."""
    ctx = _ctx(runtime)
    rounds = state.get("rounds", 0)
    if rounds >= ctx.max_rounds:
        return Command(goto="synthesize")
    history = list(state.get("coordinator_messages", []))
    opening: list[BaseMessage] = []
    if not history:
        opening = coordinator_request(
            task=_task_text(state),
            passages=_extra_passages(state),
            max_rounds=ctx.max_rounds,
            language=state["language"],
            requirements=list(state.get("requirements", [])),
        )
    spec = ctx.persona_model("coordinator")
    model = (await amodel_for(spec, ctx.model_options(spec))).bind_tools([*expert_tools(), search_documents])
    try:
        reply = await model.ainvoke([*opening, *history], config=persona_config("coordinator"))
    except (ValueError, NotImplementedError) as exc:
        # e.g. an Ollama model without tool support: the workflow needs no tool calls.
        return _fall_back(state, f"the coordinator model cannot call tools ({exc}); ran the fixed workflow")
    assert isinstance(reply, AIMessage)

    calls, errors = _check_calls(reply)
    if errors and not calls:
        tool_errors = state.get("tool_errors", 0) + 1
        if tool_errors > MAX_TOOL_RETRIES:
            return _fall_back(state, f"the coordinator's tool calls were malformed twice ({errors[0]})")
        correction = HumanMessage(
            "Your tool call was not valid: " + "; ".join(errors) + ". Call ask_scientist, "
            "ask_legal_expert or search_documents with JSON arguments, or answer without a tool."
        )
        replies = _error_replies(reply, calls)
        return Command(
            goto="coordinator",
            update={
                "coordinator_messages": [*opening, reply, *replies, correction],
                "tool_errors": tool_errors,
            },
        )
    if not calls:
        if not state.get("opinions"):
            # A coordinator that answers without consulting anyone would skip the council.
            return Command(goto=_workflow(state), update={"coordinator_messages": [*opening, reply]})
        return Command(goto="synthesize", update={"coordinator_messages": [*opening, reply]})

    sends: list[Send] = []
    expert_calls: list[tuple[str, str, str | None]] = []
    for call in calls:
        if call["name"] == SEARCH_TOOL:
            args = call["args"]
            k = args.get("k", 3)
            sends.append(
                Send(
                    "research",
                    ResearchTask(
                        query=str(args["query"]), k=k if isinstance(k, int) else 3, tool_call_id=call["id"]
                    ),
                )
            )
        else:
            expert = expert_for_tool(call["name"])
            assert expert is not None
            expert_calls.append((expert, str(call["args"]["question"]), call["id"]))
    sends += _consult_sends(state, expert_calls)
    return Command(
        goto=sends,
        update={
            "coordinator_messages": [*opening, reply, *_error_replies(reply, calls)],
            "rounds": rounds + 1,
        },
    )


def _check_calls(reply: AIMessage) -> tuple[list[dict[str, Any]], list[str]]:
    """Split the reply's tool calls into runnable ones and descriptions of the bad ones."""
    good: list[dict[str, Any]] = []
    errors = [
        f"{c.get('name') or 'call'}: {c.get('error') or 'unparseable'}" for c in reply.invalid_tool_calls
    ]
    for call in reply.tool_calls:
        name, args = call["name"], call.get("args") or {}
        needed = "query" if name == SEARCH_TOOL else "question" if expert_for_tool(name) else None
        value = args.get(needed) if needed else None
        if isinstance(value, str) and value.strip():
            good.append(dict(call))
        else:
            errors.append(f"{name}({json.dumps(args, ensure_ascii=False)[:200]}) is not a known tool call")
    return good, errors


def _error_replies(reply: AIMessage, good: list[dict[str, Any]]) -> list[ToolMessage]:
    """Answers for the reply's parsed calls not in `good`, so every tool call id gets a reply."""
    good_ids = {c["id"] for c in good}
    return [
        ToolMessage("Error: not a valid call of a known tool.", tool_call_id=c["id"] or "", status="error")
        for c in reply.tool_calls
        if c["id"] not in good_ids
    ]


def _fall_back(state: State, why: str) -> Command[Any]:
    return Command(goto=_workflow(state), update={"mode": "workflow", "warnings": [why]})


async def consult(task: ConsultTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """One expert answers its question (in parallel with the others)."""
    ctx = _ctx(runtime)
    persona = task["persona"]
    request = expert_request(
        question=task["question"],
        task=task["task"],
        language=task["language"],
        passages=task["passages"],
        facts=task.get("facts", {}),
        requirements=task.get("requirements", []),
    )
    spec = ctx.persona_model(persona)
    if ctx.experts_url:
        answer = await ask_remote_expert(
            ctx.experts_url, persona, [*task["messages"], request], ctx, timeout_s=ctx.experts_timeout_s
        )
        spec = f"{spec} @ {redact_credentials(ctx.experts_url)}"  # the opinion is kept and shown
    else:
        model = await amodel_for(spec, ctx.model_options(spec))
        reply = await expert_reply(
            persona,
            [*task["messages"], request],
            model,
            num_ctx=ctx.num_ctx,
            max_new_tokens=ctx.max_new_tokens,
            stop_repeats=ctx.stop_repeats,
        )
        answer = reply.text
    update: dict[str, Any] = {"opinions": [opinion(persona, task["question"], answer, spec)]}
    if task["tool_call_id"]:
        tool = load_persona(persona).tool_name
        update["coordinator_messages"] = [ToolMessage(answer, tool_call_id=task["tool_call_id"], name=tool)]
    return update


async def research(task: ResearchTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """A search the coordinator asked for: new passages join the turn's sources."""
    ctx = _ctx(runtime)
    from tools import format_passages  # heavy import kept out of module import time

    result = await search(ctx, task["query"], max(1, min(task["k"], 10)))
    content = format_passages(result.passages) if result.passages else "No passages found."
    if result.warnings:
        content += "\n" + "\n".join(f"Warning: {w}" for w in result.warnings)
    return {
        "passages": _as_dicts(result),
        "warnings": list(result.warnings),
        "coordinator_messages": [ToolMessage(content, tool_call_id=task["tool_call_id"], name=SEARCH_TOOL)],
    }


def after_consult(state: State) -> Literal["coordinator", "synthesize"]:
    """Agentic mode goes back to the coordinator; the workflow goes on to the report."""
    return "coordinator" if state.get("mode") == "agentic" else "synthesize"


async def synthesize(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The coordinator writes the overview; the standard is assembled around the requirements."""
    ctx = _ctx(runtime)
    language = state["language"]
    requirements = list(state.get("requirements", []))
    passages = [*await asyncio.to_thread(requirement_passages, requirements), *_extra_passages(state)]
    opinions: list[OpinionDict] = sorted(
        state.get("opinions", []),
        key=lambda o: EXPERTS.index(o["persona"]),
    )
    spec = ctx.persona_model("coordinator")
    model = await amodel_for(spec, ctx.model_options(spec))
    system = SystemMessage(load_persona("coordinator").seed_memory)
    request = await asyncio.to_thread(
        partial(
            synthesis_request,
            task=_task_text(state),
            language=language,
            facts=state.get("facts", {}),
            requirements=requirements,
            opinions=opinions,
        )
    )
    reply = await prose_reply(
        model, [system, request], config=persona_config("coordinator"), stop_repeats=ctx.stop_repeats
    )
    report = await asyncio.to_thread(
        partial(
            build_report,
            task=state["task"],
            language=language,
            model=spec,
            mode=state.get("mode", "workflow"),
            facts=state.get("facts", {}),
            requirements=requirements,
            passages=passages,
            synthesis=reply.text,
            opinions=opinions,
            persona_titles={name: load_persona(name).display(language) for name in ("coordinator", *EXPERTS)},
            changes=state.get("changes") if state.get("follow_up") else None,
            section_documents=state.get("section_documents", {}),
            warnings=state.get("warnings", []),
            review=state.get("review"),
        )
    )
    return {
        "report": report.markdown,
        "sources": report.references,
        "messages": [AIMessage(report.markdown, name="coordinator")],
    }


# -- the graph -----------------------------------------------------------------------


def admit_node(limits: RunLimits) -> Any:
    """The first node of a served graph: refuse settings the operator did not allow, before any work."""

    async def admit(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        """Refuse a run whose models, documents, index or experts server the operator did not allow."""
        limits.check(_ctx(runtime))
        return {}

    return admit


def build_graph(
    checkpointer: BaseCheckpointSaver | str | Path | None = None,
    store: BaseStore | None = None,
    limits: RunLimits | None = None,
) -> CompiledStateGraph[State, Context, InputState, OutputState]:
    """Compile the council graph with the caller's checkpointer (sync or async) and store.

    Args:
        checkpointer: Where threads are kept: a saver (sync or async), or a SQLite
            path or ``postgresql://`` URL, opened as a sync saver for the process's
            lifetime (see `graphs.checkpointing.checkpointer_for`); None for a
            stateless graph (or a server that adds its own).
        store: Optional long-term store, passed through to the nodes.
        limits: For a graph served over HTTP: what a run's context may choose
            (`graphs.limits.RunLimits`); a first node, ``admit``, refuses the rest.
            None (the CLI, embedding apps): every setting is the caller's.

    Raises:
        CheckpointerError: A path or URL that cannot be opened (one line).
    """
    if isinstance(checkpointer, str | Path):
        checkpointer = checkpointer_for(checkpointer)
    builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    for node in (retrieve, facts, obligations, review, plan, coordinator, consult, research, synthesize):
        add_async_node(builder, node)
    if limits is not None:
        add_async_node(builder, admit_node(limits))
        builder.add_edge(START, "admit")
        builder.add_edge("admit", "retrieve")
    else:
        builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "facts")
    builder.add_edge("facts", "obligations")
    builder.add_edge("obligations", "review")
    builder.add_conditional_edges("consult", after_consult)
    builder.add_edge("research", "coordinator")
    builder.add_edge("synthesize", END)
    compiled = builder.compile(checkpointer=checkpointer, store=store, name="compliance")
    return compiled.with_config(recursion_limit=RECURSION_LIMIT)


def warm_caches() -> None:
    """Read the data files the nodes use (lexicon, catalogue, corpus notes, labels, prompts) once.

    They are cached after the first read; reading them here, at import, keeps
    file I/O out of the nodes' event loop (`langgraph dev` fails a run that
    blocks it).
    """
    from agents.standard.facts import load_lexicon
    from agents.standard.requirements import fact_labels
    from prompts import load_json, load_prompt
    from tools.catalogue import load_catalogue
    from tools.catalogue.schema import passage_titles_zh

    load_lexicon()
    load_catalogue()
    corpus_passages()
    passage_titles_zh()
    for language in ("en", "zh"):
        labels(language)
        fact_labels(language)
    for name in ("expert_questions.json", "use_categories.json", "section_keywords.json"):
        load_json(name)
    for name in (
        "expert_question.md",
        "expert_system.md",
        "expert_role.md",
        "synthesis.md",
        "coordinator_agentic.md",
    ):
        load_prompt(name)
    for name in ("coordinator", *EXPERTS):
        load_persona(name)


warm_caches()

#: For LangGraph Studio / `langgraph dev`: no checkpointer (the server adds its own), and a run
#: may choose only the models, document collections and servers the operator allowed.
graph = build_graph(limits=RunLimits.from_env())
