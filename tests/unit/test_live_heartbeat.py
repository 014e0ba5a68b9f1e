"""Heartbeat lines: the CLI's stderr is never silent for long while a model reads its prompt."""

from __future__ import annotations

import asyncio
import io

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

import graphs.compliance as compliance
from graphs.cli import _stream
from graphs.context import Context
from graphs.live import LivePrinter
from tests.unit.council_fakes import ScriptedChatModel, use_model


async def test_a_silent_model_gets_heartbeat_lines_naming_the_prompt(monkeypatch, retriever) -> None:
    # Each model call is silent for 0.3 s before its first token: 6x the heartbeat interval.
    use_model(monkeypatch, ScriptedChatModel(delay_s=0.3))
    out = io.StringIO()
    live = LivePrinter(out, heartbeat_s=0.05)
    config = {"configurable": {"thread_id": "beat"}}
    ctx = Context(model="hf/embedded", mode="workflow")
    graph = compliance.build_graph(InMemorySaver())
    await _stream(graph, {"messages": [HumanMessage("Policy for a triage chatbot")]}, config, ctx, live)
    beats = [ln for ln in out.getvalue().splitlines() if ln.startswith("… still reading the prompt")]
    assert beats, out.getvalue()
    assert any("tokens)" in ln for ln in beats)  # with the prompt's size
    assert live.beat._thread is None  # stopped with the turn


async def test_no_heartbeat_while_output_keeps_coming() -> None:
    out = io.StringIO()
    live = LivePrinter(out, heartbeat_s=0.2)
    live.started("retrieve")
    for _ in range(10):
        live.note("working")
        await asyncio.sleep(0.02)
    live.close()
    assert "… still" not in out.getvalue()
