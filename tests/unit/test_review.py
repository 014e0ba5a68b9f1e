"""Human review of the facts: the answer grammar, and the graph's pause and resume (fake model)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

import graphs.compliance as compliance
from agents.standard.facts import derive_facts
from agents.standard.requirements import build_requirements
from agents.standard.review import (
    PAYLOAD_KIND,
    ReviewError,
    apply_review,
    parse_answer,
    review_payload,
)
from graphs.context import Context
from tests.unit.council_fakes import ScriptedChatModel, by_persona_calls, use_model

LOAN = "An EU bank uses an AI model it bought to score loan applicants"
CONFIG = {"configurable": {"thread_id": "review"}}


def ctx(**kw: Any) -> Context:
    return Context(model="hf/embedded", mode="workflow", **kw)


# -- the answer ------------------------------------------------------------------------


@pytest.fixture
def facts() -> dict[str, Any]:
    return derive_facts(LOAN, "en")


@pytest.mark.parametrize("answer", ["approve", "y", "YES", "批准", True, {"approve": True}, " ok "])
def test_approvals(facts, answer) -> None:
    read = parse_answer(answer, facts)
    assert read.corrections == {} and read.note == ""


def test_edits_by_number_key_and_singular_with_a_note(facts) -> None:
    assert facts["roles"]["value"] == ["deployer"]
    read = parse_answer("2=provider; data+=health; we also sell it in Germany", facts)
    assert read.corrections == {"roles": ["provider"], "data": ["personal", "health"]}
    assert read.note == "we also sell it in Germany"
    assert parse_answer("role += provider", facts).corrections == {"roles": ["provider", "deployer"]}
    assert parse_answer("A10=yes", facts).corrections == {"internal_only": True}
    assert parse_answer("sector=healthcare", facts).corrections == {"sector": "healthcare"}
    assert parse_answer("roles=提供者", facts, "zh").corrections == {"roles": ["provider"]}
    assert parse_answer("use_categories=none", facts).corrections == {"use_categories": []}
    assert parse_answer({"facts": {"2": "provider,deployer"}, "note": "x"}, facts).corrections == {
        "roles": ["provider", "deployer"]
    }


def test_text_with_an_equals_sign_that_names_no_fact_is_a_note(facts) -> None:
    read = parse_answer("the retention period = 5 years, per our policy", facts)
    assert read.corrections == {} and read.note.startswith("the retention period = 5 years")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("", "empty"),
        ("2=vendor", "roles: unknown value 'vendor'; choose from provider"),
        ("A12=x", "unknown fact 'A12'"),
        ("colour=red", "unknown fact 'colour'"),
        ("sector+=health", "sector is one value"),
        ("internal_only=maybe", "internal_only is yes or no"),
        ({"facts": {"roles": "provider"}, "reject": True}, "unknown field"),
        ({"approve": False}, "nothing was corrected"),
        ({"facts": ["roles"]}, "'facts' must be an object"),
        (42, "not int"),
    ],
)
def test_bad_answers_say_what_to_fix(facts, answer, message) -> None:
    with pytest.raises(ReviewError, match=message):
        parse_answer(answer, facts)


def test_payload_lists_every_fact_with_reason_source_choices_and_the_requirements(facts) -> None:
    requirements = build_requirements(facts, "en", [])
    payload = review_payload(facts, requirements, "en")
    assert payload["kind"] == PAYLOAD_KIND
    rows = {row["key"]: row for row in payload["facts"]}
    assert [row["number"] for row in payload["facts"]] == list(range(1, 12))
    assert rows["roles"]["value"] == ["deployer"] and rows["roles"]["source"] == "rule"
    assert rows["roles"]["reason"] and "provider" in rows["roles"]["choices"]
    assert rows["jurisdictions"]["shown"] == "EU"
    assert [r["id"] for r in payload["requirements"]] == [r["id"] for r in requirements]
    assert all(r["article"] and r["statement"] for r in payload["requirements"])


def test_corrections_are_the_users_and_data_implications_follow(facts) -> None:
    corrected, record = apply_review(facts, parse_answer("2=provider; data=health", facts), "en")
    assert corrected["roles"] == {
        "key": "roles",
        "value": ["provider"],
        "reason": "corrected by the reviewer before drafting",
        "source": "user",
    }
    assert corrected["data"]["value"] == ["personal", "special_category", "health"]
    assert record == {"status": "corrected", "corrected": ["roles", "data"], "note": ""}
    # A "correction" to the value a fact already has changes nothing.
    same, record = apply_review(facts, parse_answer("1=eu", facts), "en")
    assert same == facts and record["status"] == "approved"


# -- the graph -------------------------------------------------------------------------


async def start(graph: Any, task: str = LOAN, **kw: Any) -> dict[str, Any]:
    return await graph.ainvoke({"messages": [HumanMessage(task)]}, CONFIG, context=ctx(review=True, **kw))


async def test_review_pauses_after_the_facts_before_any_expert(monkeypatch, retriever) -> None:
    model = use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    out = await start(graph)
    (pause,) = out["__interrupt__"]
    assert pause.value["kind"] == PAYLOAD_KIND and pause.response_schema
    assert {row["key"] for row in pause.value["facts"]} >= {"jurisdictions", "roles", "use_categories"}
    assert pause.value["requirements"]
    assert model.calls == []  # nobody drafted on facts no one has checked
    state = await graph.aget_state(CONFIG)
    assert state.next == ("review",) and state.interrupts
    assert "report" not in out or not out["report"]


async def test_approve_finishes_the_turn_without_redoing_retrieval(monkeypatch, retriever) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    first = (await start(graph))["__interrupt__"][0].value
    queries = len(retriever.queries)
    out = await graph.ainvoke(Command(resume="approve"), CONFIG, context=ctx())
    assert len(retriever.queries) == queries  # retrieval and facts are not run again
    assert out["review"] == {"status": "approved", "corrected": [], "note": ""}
    assert [r["id"] for r in out["requirements"]] == [r["id"] for r in first["requirements"]]
    assert "**Reviewed before drafting: the reviewer approved these assumptions.**" in out["report"]
    assert [m.type for m in out["messages"]] == ["human", "ai"]


async def test_a_correction_changes_the_obligations_and_the_report_says_so(monkeypatch, retriever) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    before = {r["id"] for r in (await start(graph))["__interrupt__"][0].value["requirements"]}
    out = await graph.ainvoke(Command(resume={"facts": {"roles": ["provider"]}}), CONFIG, context=ctx())
    after = {r["id"] for r in out["requirements"]}
    assert out["facts"]["roles"]["value"] == ["provider"] and out["facts"]["roles"]["source"] == "user"
    # Provider duties (Art. 9 risk management, Art. 16 …) replace the deployer's (Art. 26).
    assert any(i.startswith("eu-ai-act.art-9.") for i in after - before), after - before
    assert any(i.startswith("eu-ai-act.art-26.") for i in before - after), before - after
    assert "the reviewer corrected A2 (Your role(s))" in out["report"]
    assert "corrected by the reviewer before drafting" in out["report"]


async def test_a_note_goes_to_every_expert_and_into_the_report(monkeypatch, retriever) -> None:
    model = use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    await start(graph)
    note = "Our credit committee signs off every rejection"
    out = await graph.ainvoke(Command(resume=note), CONFIG, context=ctx())
    for persona in ("scientist", "legal_expert", "coordinator"):
        sent = " ".join(m.text for m in by_persona_calls(model, persona)[0]["messages"])
        assert f"(their words, to take into account): {note}" in sent, persona
    assert out["review"]["note"] == note and note in out["report"]


async def test_an_unreadable_answer_pauses_again_with_the_error(monkeypatch, retriever) -> None:
    model = use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    await start(graph)
    out = await graph.ainvoke(Command(resume="2=vendor"), CONFIG, context=ctx())
    (pause,) = out["__interrupt__"]
    assert "roles: unknown value 'vendor'" in pause.value["error"]
    assert model.calls == [] and (await graph.aget_state(CONFIG)).next == ("review",)
    out = await graph.ainvoke(Command(resume="2=provider"), CONFIG, context=ctx())
    assert out["facts"]["roles"]["value"] == ["provider"] and out["report"]


async def test_review_off_runs_straight_through(monkeypatch, retriever) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    out = await compliance.build_graph(InMemorySaver()).ainvoke(
        {"messages": [HumanMessage(LOAN)]}, CONFIG, context=ctx()
    )
    assert "__interrupt__" not in out and out["review"] is None and out["report"]
    assert "Reviewed before drafting" not in out["report"]


async def test_a_follow_up_is_reviewed_too_and_its_changes_cite_the_correction(
    monkeypatch, retriever
) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    await start(graph)
    await graph.ainvoke(Command(resume="approve"), CONFIG, context=ctx())
    out = await graph.ainvoke(
        {"messages": [HumanMessage("Make the privacy part stricter")]}, CONFIG, context=ctx(review=True)
    )
    assert out["__interrupt__"][0].value["kind"] == PAYLOAD_KIND
    out = await graph.ainvoke(Command(resume="2=provider"), CONFIG, context=ctx())
    assert [m.type for m in out["messages"]] == ["human", "ai", "human", "ai"]
    # The changes are against the first turn's standard, not the requirements shown in review:
    # stricter privacy entries (from the request) and provider duties (from the correction) alike.
    added = {c["id"] for c in out["changes"] if c["kind"] in ("added", "tightened")}
    assert any(i.startswith("eu-ai-act.art-9.") for i in added), added
    assert any(i.startswith("gdpr.") for i in added), added
    assert out["review"]["corrected"] == ["roles"]


def test_a_paused_thread_survives_a_restart_and_a_second_resume_adds_no_report(
    monkeypatch, retriever, tmp_path
) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    db = tmp_path / "threads.sqlite"
    from langgraph.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(str(db)) as saver:
        graph = compliance.build_graph(saver)
        out = graph.invoke({"messages": [HumanMessage(LOAN)]}, CONFIG, context=ctx(review=True))
        assert out["__interrupt__"]
    # A new process: another connection to the same file finds the pending review.
    with SqliteSaver.from_conn_string(str(db)) as saver:
        graph = compliance.build_graph(saver)
        assert graph.get_state(CONFIG).next == ("review",)
        out = graph.invoke(Command(resume="role=provider"), CONFIG, context=ctx())
        assert out["facts"]["roles"]["value"] == ["provider"]
        again = graph.invoke(Command(resume="approve"), CONFIG, context=ctx())
        # LangGraph treats a resume with nothing pending as a no-op: no second report.
        assert [m.type for m in again["messages"]] == ["human", "ai"]
        assert again["report"] == out["report"]
