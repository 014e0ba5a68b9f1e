"""A follow-up's prompts: earlier turns as a compact "decided so far" block, within the history budget."""

from __future__ import annotations

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

import graphs.compliance as compliance
from agents.decided import decided_block
from agents.history import approx_tokens
from graphs.context import Context
from tests.unit.council_fakes import ScriptedChatModel, use_model

WINDOW = 8192
FOLLOW_UPS = [
    "Make the privacy controls stricter and add patient consent. " + "Background: " + "detail " * 300,
    "Also tighten human oversight of every triage decision.",
    "The hospital is the deployer, not the provider.",
]


def _tokens(call: dict) -> int:
    return sum(approx_tokens(m.text) for m in call["messages"])


async def test_follow_up_prompts_carry_what_was_decided_not_the_report(monkeypatch, retriever) -> None:
    model = use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "decided"}}
    context = Context(model="hf/embedded", mode="workflow", num_ctx=WINDOW, history_share=0.1)
    first = await graph.ainvoke(
        {"messages": [HumanMessage("Policy for a hospital triage chatbot in the EU")]},
        config,
        context=context,
    )
    first_tokens = max(_tokens(c) for c in model.calls)
    for text in FOLLOW_UPS:
        model.calls.clear()
        await graph.ainvoke({"messages": [HumanMessage(text)]}, config, context=context)
    report_lines = [ln for ln in first["report"].splitlines() if len(ln) > 40]
    budget = int(WINDOW * 0.1)
    decided = (await graph.aget_state(config)).values["decided"]
    assert approx_tokens(decided) <= budget
    for call in model.calls:
        sent = "\n".join(m.text for m in call["messages"])
        assert "Decided in earlier turns of this thread" in sent  # every speaker gets the block
        assert "Also tighten human oversight" in sent  # with the newest earlier request
        assert not any(line in sent for line in report_lines)  # and never the earlier report
        # The whole follow-up costs what a first turn costs, plus the budget and this turn's request.
        assert _tokens(call) <= first_tokens + budget + approx_tokens(FOLLOW_UPS[-1]) + 64
    assert {c["persona"] for c in model.calls} == {"scientist", "legal_expert", "coordinator"}


def test_the_block_keeps_the_newest_requests_within_the_budget() -> None:
    requests = [f"request number {i} " + "words " * 40 for i in range(30)]
    block = decided_block(language="en", earlier_requests=requests, facts={}, budget_tokens=300)
    assert approx_tokens(block) <= 300
    assert "request number 29" in block and "request number 0 " not in block
    assert decided_block(language="en", earlier_requests=[], facts={}, budget_tokens=300) == ""
