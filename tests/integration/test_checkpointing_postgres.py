"""Threads in a real PostgreSQL server started on 127.0.0.1 for this module.

graphs.checkpointing on a tiny deterministic graph, then the council itself
(`build_graph` on the real embedded model) with `PostgresSaver` and
`AsyncPostgresSaver`, and the CLI reading the same database by URL.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.checkpointing import (
    CheckpointerError,
    open_async_checkpointer,
    open_checkpointer,
)
from graphs.compliance import build_graph
from graphs.context import Context
from graphs.threads import alist_threads, athread_exists, list_threads, thread_exists
from tests.integration.council_cli import ROOT, cli_env
from tests.integration.servers import PostgresServer, free_port

#: Module timeout per test: the council tests run the embedded model.
pytestmark = pytest.mark.timeout(900)


def answer(state: MessagesState) -> dict[str, Any]:
    """Deterministic stand-in for a model: says which turn this is and what it heard."""
    turn = sum(isinstance(m, HumanMessage) for m in state["messages"])
    return {"messages": [AIMessage(f"turn {turn}: {state['messages'][-1].content}")]}


def graph_with(checkpointer: Any) -> CompiledStateGraph:
    builder = StateGraph(MessagesState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer)


def cfg(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def test_turn_and_follow_up_sync(postgres: PostgresServer) -> None:
    thread = f"sync-{uuid.uuid4()}"
    with open_checkpointer(postgres.url) as saver:
        first = graph_with(saver).invoke({"messages": [HumanMessage("Draft a triage policy")]}, cfg(thread))
    assert first["messages"][-1].content == "turn 1: Draft a triage policy"

    # A new connection (a new CLI process) continues the same thread.
    with open_checkpointer(postgres.url) as saver:
        graph = graph_with(saver)
        second = graph.invoke({"messages": [HumanMessage("stricter privacy")]}, cfg(thread))
        assert [m.content for m in second["messages"]] == [
            "Draft a triage policy",
            "turn 1: Draft a triage policy",
            "stricter privacy",
            "turn 2: stricter privacy",
        ]
        assert thread_exists(saver, thread)
        assert not thread_exists(saver, f"missing-{uuid.uuid4()}")
        info = {t.thread_id: t for t in list_threads(saver)}[thread]
    assert (info.title, info.messages, info.checkpoints) == ("Draft a triage policy", 4, 6)
    assert info.updated_at is not None


async def test_turn_and_follow_up_async(postgres: PostgresServer) -> None:
    thread = f"async-{uuid.uuid4()}"
    async with open_async_checkpointer(postgres.url) as saver:
        await graph_with(saver).ainvoke({"messages": [HumanMessage("制定人工智能合规标准")]}, cfg(thread))
    async with open_async_checkpointer(postgres.url) as saver:
        graph = graph_with(saver)
        out = await graph.ainvoke({"messages": [HumanMessage("更严格的隐私")]}, cfg(thread))
        assert out["messages"][-1].content == "turn 2: 更严格的隐私"
        assert len((await graph.aget_state(cfg(thread))).values["messages"]) == 4
        assert await athread_exists(saver, thread)
        info = {t.thread_id: t for t in await alist_threads(saver)}[thread]
    assert (info.title, info.messages) == ("制定人工智能合规标准", 4)


async def test_sync_and_async_savers_share_threads(postgres: PostgresServer) -> None:
    thread = f"mixed-{uuid.uuid4()}"
    with open_checkpointer(postgres.url) as saver:
        graph_with(saver).invoke({"messages": [HumanMessage("from the CLI")]}, cfg(thread))
    async with open_async_checkpointer(postgres.url) as saver:
        out = await graph_with(saver).ainvoke({"messages": [HumanMessage("from the server")]}, cfg(thread))
    assert out["messages"][-1].content == "turn 2: from the server"


def test_missing_database(postgres: PostgresServer) -> None:
    url = postgres.url.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(CheckpointerError) as exc, open_checkpointer(url):
        pass
    where = f"127.0.0.1:{postgres.port}/no_such_db"
    assert str(exc.value) == f'cannot connect to PostgreSQL at {where}: database "no_such_db" does not exist'


def test_unreachable_server() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/council"
    with pytest.raises(CheckpointerError) as exc, open_checkpointer(url):
        pass
    message = str(exc.value)
    assert message.startswith(f"cannot connect to PostgreSQL at 127.0.0.1:{port}/council: connection refused")
    assert "\n" not in message and "hunter2" not in message


async def test_unreachable_server_async() -> None:
    port = free_port()
    expected = rf"^cannot connect to PostgreSQL at 127\.0\.0\.1:{port}/council: connection refused"
    with pytest.raises(CheckpointerError, match=expected):
        async with open_async_checkpointer(f"postgresql://postgres@127.0.0.1:{port}/council"):
            pass


# -- the council on PostgreSQL ---------------------------------------------------------

COUNCIL_TASK = "Policy for a hospital triage chatbot in the EU"
COUNCIL_FOLLOW_UP = "Now make the privacy part stricter"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="module")
def council_thread(postgres: PostgresServer, index_dir: Path) -> dict[str, Any]:
    """A council turn with the sync `PostgresSaver`, then a follow-up with `AsyncPostgresSaver`.

    Each opens its own connection, as two processes sharing the database would.
    """
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    context = Context(
        model="hf/embedded", max_new_tokens=16, index_dir=str(index_dir), web_search=False, retrieval_k=3
    )
    thread = f"council-{uuid.uuid4()}"
    # The savers as an embedder makes them (setup() creates the tables, idempotently).
    with PostgresSaver.from_conn_string(postgres.url) as saver:
        saver.setup()
        first = build_graph(checkpointer=saver).invoke(
            {"messages": [HumanMessage(COUNCIL_TASK)]}, cfg(thread), context=context
        )

    async def follow_up() -> tuple[dict[str, Any], Any]:
        async with AsyncPostgresSaver.from_conn_string(postgres.url) as saver:
            graph = build_graph(checkpointer=saver)
            out = await graph.ainvoke(
                {"messages": [HumanMessage(COUNCIL_FOLLOW_UP)]}, cfg(thread), context=context
            )
            return out, await graph.aget_state(cfg(thread))

    second, state = asyncio.run(follow_up())
    return {"thread": thread, "first": first, "second": second, "state": state}


def test_council_turn_and_follow_up(council_thread: dict[str, Any]) -> None:
    first, second, state = council_thread["first"], council_thread["second"], council_thread["state"]
    assert first["report"].startswith("# AI compliance standard") and len(first["opinions"]) == 2
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]
    assert [m.text for m in second["messages"][::2]] == [COUNCIL_TASK, COUNCIL_FOLLOW_UP]
    # The follow-up was answered on top of the stored first turn, which is kept as it was.
    assert second["messages"][1].text == first["report"]
    assert second["report"] == second["messages"][3].text != first["report"]
    # The thread keeps its task (the standard's title); the follow-up is this turn's request.
    assert state.values["task"] == COUNCIL_TASK and state.values["request"] == COUNCIL_FOLLOW_UP
    assert not state.next


def test_cli_lists_and_shows_the_council_thread(
    postgres: PostgresServer, council_thread: dict[str, Any], index_dir: Path
) -> None:
    thread = council_thread["thread"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "graphs.compliance", "--db", postgres.url, *args],
            cwd=ROOT,
            env=cli_env(index_dir),
            capture_output=True,
            text=True,
            timeout=300,
        )

    listed = cli("--list-threads")
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = {line.split("\t")[0]: line.split("\t") for line in listed.stdout.splitlines()}
    assert rows[thread][-1] == COUNCIL_TASK  # the title is the thread's first task

    shown = cli("--show", thread)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert COUNCIL_TASK in shown.stdout and COUNCIL_FOLLOW_UP in shown.stdout
    assert council_thread["second"]["report"].strip() in shown.stdout


def test_build_graph_takes_a_postgres_url(postgres: PostgresServer) -> None:
    # The URL form (no model run needed): a thread written through one graph is read by another.
    config = cfg(f"url-{uuid.uuid4().hex[:8]}")
    first = build_graph(checkpointer=postgres.url)
    first.update_state(
        config, {"messages": [HumanMessage("task"), AIMessage("report")]}, as_node="synthesize"
    )
    again = build_graph(checkpointer=postgres.url)
    assert [m.text for m in again.get_state(config).values["messages"]] == ["task", "report"]
    assert type(again.checkpointer).__name__ == "PostgresSaver"
