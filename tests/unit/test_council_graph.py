"""Wiring of the council graph, on a scripted fake model and a fixed retriever (no real model)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

import graphs.compliance as compliance
from agents.report import SECTIONS, labels
from graphs.context import Context
from tests.unit.council_fakes import PASSAGES, ScriptedChatModel, by_persona_calls, default_script, use_model


def ctx(**kw: Any) -> Context:
    return Context(model="hf/embedded", **kw)


def call(tool: str, call_id: str, **args: Any) -> dict[str, Any]:
    return {"name": tool, "args": args, "id": call_id, "type": "tool_call"}


async def test_workflow_turn_builds_a_cited_report(monkeypatch, retriever) -> None:
    model = use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    out = await graph.ainvoke(
        {"messages": [HumanMessage("Draft a policy for a triage chatbot in an EU hospital")]},
        {"configurable": {"thread_id": "t"}},
        context=ctx(mode="workflow"),
    )
    assert out["mode"] == "workflow"
    assert sorted(o["persona"] for o in out["opinions"]) == ["legal_expert", "scientist"]
    names = labels("en")["sections"]
    for key in SECTIONS:
        assert names[key] in out["report"]
    # The facts chose the requirements; each cites its passage, and every cited passage is a source.
    assert out["facts"]["jurisdictions"]["value"] == ["eu"]
    assert "annex3:essential_services" in out["facts"]["use_categories"]["value"]
    assert any(r["passage"] == "eu-ai-act:art-26" for r in out["requirements"])
    cited = {s["source_id"] for s in out["sources"]}
    for r in out["requirements"]:
        assert f"**{r['number']}** {r['statement']}" in out["report"]
        assert r["passage"] in cited
    # The experts' points passed the gate and cite retrieved passages, which join the sources.
    assert {p.source_id for p in PASSAGES} <= cited
    assert "**Council** · Computer scientist: Log every triage decision" in out["report"]
    assert isinstance(out["messages"][-1], AIMessage) and out["messages"][-1].text == out["report"]
    # Workflow mode never binds tools; the coordinator speaks once (the overview).
    assert not any(c["tools"] for c in model.calls)
    assert len(by_persona_calls(model, "coordinator")) == 1


async def test_experts_run_in_parallel(monkeypatch, retriever) -> None:
    started: dict[str, asyncio.Event] = {"scientist": asyncio.Event(), "legal_expert": asyncio.Event()}

    class Waiting(ScriptedChatModel):
        async def _agenerate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kw: Any):
            persona = compliance_persona(messages)
            if persona in started:
                started[persona].set()
                other = "legal_expert" if persona == "scientist" else "scientist"
                # Sequential execution would never see the other expert start: time out instead of hanging.
                await asyncio.wait_for(started[other].wait(), timeout=5)
            return await super()._agenerate(messages, stop, run_manager, **kw)

    use_model(monkeypatch, Waiting())
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("task")]}, context=ctx(mode="workflow")
    )
    assert len(out["opinions"]) == 2


def compliance_persona(messages: Sequence[BaseMessage]) -> str:
    from tests.unit.council_fakes import persona_of

    return persona_of(messages)


async def test_max_concurrency_1_runs_the_experts_one_after_the_other(monkeypatch, retriever) -> None:
    # bench/graph.py's sequential side of parallel_vs_sequential relies on this run setting.
    running: set[str] = set()
    overlaps: list[set[str]] = []

    class Counting(ScriptedChatModel):
        async def _agenerate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kw: Any):
            persona = compliance_persona(messages)
            running.add(persona)
            if len(running & {"scientist", "legal_expert"}) > 1:
                overlaps.append(set(running))
            await asyncio.sleep(0.05)  # leave room for the other expert to start, if it would
            try:
                return await super()._agenerate(messages, stop, run_manager, **kw)
            finally:
                running.discard(persona)

    use_model(monkeypatch, Counting())
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("task")]}, {"max_concurrency": 1}, context=ctx(mode="workflow")
    )
    assert len(out["opinions"]) == 2 and overlaps == []
    # ... and without it they do overlap (test_experts_run_in_parallel proves they wait for each other).
    await compliance.build_graph().ainvoke({"messages": [HumanMessage("task")]}, context=ctx(mode="workflow"))
    assert overlaps


async def test_agentic_mode_consults_experts_as_tools_and_searches(monkeypatch, retriever) -> None:
    rounds = iter(
        [
            AIMessage(
                "",
                tool_calls=[
                    call("ask_scientist", "a", question="Logs?"),
                    call("ask_legal_expert", "b", question="DPIA?"),
                ],
            ),
            AIMessage("", tool_calls=[call("search_documents", "c", query="measure testing", k=2)]),
            AIMessage("The standard must cover oversight and DPIAs."),
        ]
    )

    def script(persona: str, messages: Sequence[BaseMessage], tools: bool) -> AIMessage:
        return (
            next(rounds) if persona == "coordinator" and tools else default_script(persona, messages, tools)
        )

    model = use_model(monkeypatch, ScriptedChatModel(script=script, tool_calling=True))
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("task")]}, context=ctx(mode="agentic")
    )
    assert out["mode"] == "agentic"
    assert {o["question"] for o in out["opinions"]} == {"Logs?", "DPIA?"}
    # The coordinator saw every tool answer, the search result among them.
    third = [c for c in by_persona_calls(model, "coordinator") if c["tools"]][2]["messages"]
    answered = {m.tool_call_id: m.text for m in third if isinstance(m, ToolMessage)}
    assert set(answered) == {"a", "b", "c"}
    assert "nist-ai-rmf:measure" in answered["c"]


async def test_round_cap_stops_a_coordinator_that_never_stops(monkeypatch, retriever) -> None:
    counter = iter(range(100))

    def script(persona: str, messages: Sequence[BaseMessage], tools: bool) -> AIMessage:
        if persona == "coordinator" and tools:
            return AIMessage("", tool_calls=[call("ask_scientist", f"x{next(counter)}", question="again?")])
        return default_script(persona, messages, tools)

    model = use_model(monkeypatch, ScriptedChatModel(script=script, tool_calling=True))
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("task")]}, context=ctx(mode="agentic", max_rounds=2)
    )
    assert len([c for c in by_persona_calls(model, "coordinator") if c["tools"]]) == 2
    assert len(out["opinions"]) == 2 and out["report"]


async def test_malformed_tool_calls_retry_once_then_fall_back_to_workflow(monkeypatch, retriever) -> None:
    bad = AIMessage(
        "",
        invalid_tool_calls=[
            {
                "name": "ask_scientist",
                "args": "{oops",
                "id": "z",
                "error": "bad JSON",
                "type": "invalid_tool_call",
            }
        ],
    )

    def script(persona: str, messages: Sequence[BaseMessage], tools: bool) -> AIMessage:
        return bad if persona == "coordinator" and tools else default_script(persona, messages, tools)

    model = use_model(monkeypatch, ScriptedChatModel(script=script, tool_calling=True))
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("task")]}, context=ctx(mode="agentic")
    )
    assert out["mode"] == "workflow"
    assert any("malformed" in w for w in out["warnings"])
    assert len([c for c in by_persona_calls(model, "coordinator") if c["tools"]]) == 2  # one try, one retry
    assert sorted(o["persona"] for o in out["opinions"]) == ["legal_expert", "scientist"]


async def test_unknown_tool_then_valid_call_continues_agentic(monkeypatch, retriever) -> None:
    replies = iter(
        [
            AIMessage("", tool_calls=[call("ask_oracle", "u", question="?")]),
            AIMessage("", tool_calls=[call("ask_legal_expert", "v", question="Which law?")]),
            AIMessage("done"),
        ]
    )

    def script(persona: str, messages: Sequence[BaseMessage], tools: bool) -> AIMessage:
        return (
            next(replies) if persona == "coordinator" and tools else default_script(persona, messages, tools)
        )

    model = use_model(monkeypatch, ScriptedChatModel(script=script, tool_calling=True))
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("task")]}, context=ctx(mode="agentic")
    )
    assert out["mode"] == "agentic"
    assert [o["question"] for o in out["opinions"]] == ["Which law?"]
    retry = [c for c in by_persona_calls(model, "coordinator") if c["tools"]][1]["messages"]
    assert any(isinstance(m, ToolMessage) and m.tool_call_id == "u" and m.status == "error" for m in retry)


@pytest.mark.parametrize(("tool_calling", "expected"), [(False, "workflow"), (True, "agentic")])
async def test_auto_mode_follows_the_models_tool_support(
    monkeypatch, retriever, tool_calling, expected
) -> None:
    use_model(monkeypatch, ScriptedChatModel(tool_calling=tool_calling))
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("task")]}, context=ctx(mode="auto")
    )
    assert out["mode"] == expected
    assert len(out["opinions"]) == 2  # an agentic coordinator that consults no one still gets the council


async def test_follow_up_sees_the_first_turn_and_resets_per_turn_fields(monkeypatch, retriever) -> None:
    model = use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "follow"}}
    await graph.ainvoke(
        {"messages": [HumanMessage("Policy for a triage chatbot")]}, config, context=ctx(mode="workflow")
    )
    model.calls.clear()
    out = await graph.ainvoke(
        {"messages": [HumanMessage("Make the privacy controls stricter")]},
        config,
        context=ctx(mode="workflow"),
    )
    humans = [m.text for m in out["messages"] if isinstance(m, HumanMessage)]
    assert humans == ["Policy for a triage chatbot", "Make the privacy controls stricter"]
    assert len(out["messages"]) == 4 and len(out["opinions"]) == 2  # opinions are this turn's only
    sent = " ".join(m.text for m in by_persona_calls(model, "scientist")[0]["messages"])
    assert "Policy for a triage chatbot" in sent  # the expert saw the earlier turn
    assert "follow-up request now: Make the privacy controls stricter" in sent  # and what is asked now
    assert "Policy for a triage chatbot" in retriever.queries[-1]  # and so did retrieval
    # The follow-up revises the thread's standard: same title, stricter entries, a list of changes.
    assert out["report"].startswith("# AI compliance standard: Policy for a triage chatbot")
    assert out["changes"] and "## 10. Changes from the previous version" in out["report"]
    assert any(r["level"] == "strict" for r in out["requirements"])


async def test_history_is_trimmed_to_the_window_but_kept_in_the_checkpoint(monkeypatch, retriever) -> None:
    model = use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "long"}}
    old = [HumanMessage("old question " + "x" * 3000), AIMessage("old answer " + "y" * 3000)]
    graph.update_state(config, {"messages": old}, as_node="synthesize")
    out = await graph.ainvoke(
        {"messages": [HumanMessage("new task")]},
        config,
        context=ctx(mode="workflow", num_ctx=2500, max_new_tokens=64),
    )
    sent = by_persona_calls(model, "scientist")[0]["messages"]
    assert not any("old question" in m.text for m in sent)  # did not fit, so not sent
    assert out["messages"][0].text.startswith("old question")  # but still in the thread


async def test_empty_task_is_an_error_not_a_report(monkeypatch, retriever) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    with pytest.raises(ValueError, match="task is empty"):
        await compliance.build_graph().ainvoke({"messages": [HumanMessage("   ")]}, context=ctx())


async def test_chinese_task_gets_a_chinese_standard(monkeypatch, retriever) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("我们是一家德国公司，使用第三方AI工具筛选简历，请制定合规标准")]},
        context=ctx(mode="workflow"),
    )
    assert out["language"] == "zh"
    assert "人工监督" in out["report"] and "参考文献" in out["report"] and "适用性假设" in out["report"]
    assert out["facts"]["roles"]["value"] == ["deployer"]
    assert "部署者应当" in out["report"]  # the requirements in Chinese
    # The fake experts answer in English: their points stay out of the body, marked in the appendix.
    body = out["report"].split("## 附录")[0]
    assert "Log every triage decision" not in body
    assert "未纳入标准: 未使用任务的语言" in out["report"]


async def test_sync_invoke_with_sync_checkpointer(monkeypatch, retriever) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    out = await asyncio.to_thread(
        graph.invoke,
        {"messages": [HumanMessage("task")]},
        {"configurable": {"thread_id": "s"}},
        context=ctx(mode="workflow"),
    )
    assert out["report"]


@pytest.mark.parametrize("bad", [5, [5], [{"role": "user"}]])
async def test_malformed_messages_are_one_clear_error(monkeypatch, retriever, bad) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    with pytest.raises(ValueError, match="'messages' must be a list of messages"):
        await compliance.build_graph().ainvoke({"messages": bad}, context=ctx())


def test_build_graph_takes_a_sqlite_path(monkeypatch, retriever, tmp_path) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    db = tmp_path / "threads.sqlite"
    config = {"configurable": {"thread_id": "p"}}
    graph = compliance.build_graph(checkpointer=str(db))
    out = graph.invoke({"messages": [HumanMessage("task")]}, config, context=ctx(mode="workflow"))
    assert out["report"]
    # Another graph on the same path sees the thread (and shares the one open saver).
    again = compliance.build_graph(checkpointer=db)
    assert again.checkpointer is graph.checkpointer
    assert [m.type for m in again.get_state(config).values["messages"]] == ["human", "ai"]


def test_build_graph_with_a_bad_path_is_one_clear_error(tmp_path) -> None:
    from graphs.checkpointing import CheckpointerError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CheckpointerError, match="cannot open thread database"):
        compliance.build_graph(checkpointer=blocker / "threads.sqlite")


async def test_user_documents_show_under_the_sections_they_bear_on(monkeypatch, retriever, tmp_path) -> None:
    from tools import Passage

    policy = Passage(
        source_id="docs:hr-policy.md#c1",
        title="hr-policy.md",
        locator="hr-policy.md",
        text="Recruiters review every rejection before it is sent to the candidate.",
        origin="docs",
        score=1.0,
    )
    retriever.passages = [policy, *PASSAGES]
    use_model(monkeypatch, ScriptedChatModel())
    out = await compliance.build_graph().ainvoke(
        {"messages": [HumanMessage("We use a vendor's CV screening tool in Germany")]},
        context=ctx(mode="workflow", docs_dir=str(tmp_path)),
    )
    # One search per section with requirements, each naming the section and the task.
    assert len(retriever.queries) > 5 and all("CV screening" in q for q in retriever.queries)
    assert "**From your documents:**" in out["report"]
    assert "[docs:hr-policy.md#c1]" in out["report"]
    assert "docs:hr-policy.md#c1" in {s["source_id"] for s in out["sources"]}


async def test_a_message_too_large_for_the_window_is_refused_and_does_not_stay(
    monkeypatch, retriever
) -> None:
    use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "big"}}
    small = ctx(mode="workflow", num_ctx=400)
    with pytest.raises(
        ValueError, match=r"^the message is about \d+ tokens; the model's context window is 400"
    ):
        await graph.ainvoke({"messages": [HumanMessage("policy " * 200)]}, config, context=small)
    assert retriever.queries == []  # refused before retrieval
    out = await graph.ainvoke({"messages": [HumanMessage("Policy for a chatbot")]}, config, context=small)
    # The refused message is taken out of the thread; the next turn is the thread's first.
    assert [m.type for m in out["messages"]] == ["human", "ai"] and out["task"] == "Policy for a chatbot"
    follow = await graph.ainvoke({"messages": [HumanMessage("Make privacy stricter")]}, config, context=small)
    assert [m.type for m in follow["messages"]] == ["human", "ai", "human", "ai"]
