"""Embedding the council: `build_graph` with the caller's own checkpointer, sync and async, real model."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs.compliance import build_graph
from graphs.context import Context
from tests.integration.conftest import EMBEDDED_TEST_MAX_NEW_TOKENS

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Context:
    index = tmp_path_factory.mktemp("index")
    return Context(
        model="hf/embedded",
        max_new_tokens=EMBEDDED_TEST_MAX_NEW_TOKENS,
        index_dir=str(index),
        web_search=False,
        retrieval_k=3,  # prompt prefill is most of a CPU turn; three passages show the flow
    )


def test_sync_invoke_with_a_sync_sqlite_checkpointer(tmp_path: Path, context: Context) -> None:
    db = tmp_path / "app.sqlite"
    config = {"configurable": {"thread_id": "app-1"}}
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        graph = build_graph(checkpointer=SqliteSaver(conn))
        out = graph.invoke(
            {"messages": [HumanMessage("Rules for an AI hiring screener")]}, config, context=context
        )
    finally:
        conn.close()
    assert out["language"] == "en" and out["report"].startswith("# AI compliance standard")
    assert len(out["opinions"]) == 2 and out["sources"]
    # A fresh saver on the same file sees the turn: the caller's checkpointer really kept it.
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        state = build_graph(checkpointer=SqliteSaver(conn)).get_state(config)
    finally:
        conn.close()
    assert [m.type for m in state.values["messages"]] == ["human", "ai"]


def test_async_invoke_with_an_async_sqlite_checkpointer_and_a_follow_up(
    tmp_path: Path, context: Context
) -> None:
    async def main() -> dict:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "app.sqlite")) as saver:
            graph = build_graph(checkpointer=saver)
            config = {"configurable": {"thread_id": "app-2"}}
            await graph.ainvoke(
                {"messages": [HumanMessage("人脸识别门禁的合规要求")]}, config, context=context
            )
            return await graph.ainvoke(
                {"messages": [HumanMessage("补充数据保护要求")]}, config, context=context
            )

    out = asyncio.run(main())
    assert out["language"] == "zh"
    assert [m.type for m in out["messages"]] == ["human", "ai", "human", "ai"]
    assert "参考文献" in out["report"]
