"""graphs.nodes: coroutine nodes run under `invoke` and `ainvoke`, get their Runtime, draw their edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from typing_extensions import TypedDict

from graphs.nodes import add_async_node


class S(TypedDict, total=False):
    n: int
    who: str


@dataclass
class Ctx:
    who: str


async def first(state: S, runtime: Runtime[Ctx]) -> Command[Literal["second"]]:
    return Command(goto="second", update={"who": runtime.context.who})


async def second(state: S) -> dict[str, Any]:
    return {"n": state.get("n", 0) + 1}


def _graph() -> CompiledStateGraph:
    builder = StateGraph(S, context_schema=Ctx)
    add_async_node(builder, first)
    add_async_node(builder, second)
    builder.add_edge(START, "first")
    builder.add_edge("second", END)
    return builder.compile()


def test_sync_invoke_runs_the_coroutine_with_its_runtime() -> None:
    assert _graph().invoke({"n": 1}, context=Ctx(who="sync")) == {"n": 2, "who": "sync"}


async def test_async_invoke_runs_the_coroutine_with_its_runtime() -> None:
    assert await _graph().ainvoke({"n": 1}, context=Ctx(who="async")) == {"n": 2, "who": "async"}


def test_command_destinations_are_drawn_as_edges() -> None:
    edges = {(e.source, e.target, e.conditional) for e in _graph().get_graph().edges}
    assert ("first", "second", True) in edges
