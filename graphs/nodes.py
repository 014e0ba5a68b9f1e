"""Register async node functions so the graph runs under both `ainvoke` and `invoke`.

The nodes are written once, as coroutines, so the async path of the model
layer serves the server and the CLI (cancellable, never blocking an event
loop). Embedders who call `graph.invoke` get the same coroutine run to
completion on a private event loop. The pair is a public `RunnableLambda(func,
afunc)`; the node's `Runtime` (which LangGraph injects only into plain functions)
is fetched with `get_runtime()` and passed on.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from langchain_core.runnables import RunnableLambda
from langgraph.graph import StateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Command

T = TypeVar("T")


def run_coroutine_sync(coro: Awaitable[T]) -> T:
    """Run `coro` to completion from sync code, inside a running event loop or not."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    # Called from a thread that runs a loop (a notebook, say): use a thread of its own,
    # carrying the context (LangGraph's config and callbacks live in context variables).
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coro).result()  # type: ignore[arg-type]


def add_async_node(builder: StateGraph[Any, Any, Any, Any], afunc: Callable[..., Awaitable[Any]]) -> None:
    """Add coroutine `afunc` as node `afunc.__name__`, runnable sync and async.

    What LangGraph infers from a plain function — the input schema from the
    first parameter's annotation and, for a `Command[Literal[...]]` return,
    the nodes it may go to (the edges Studio draws) — is passed explicitly,
    since the node is given as a runnable pair rather than a function.
    """
    wants_runtime = "runtime" in inspect.signature(afunc).parameters

    def call(state: Any) -> Awaitable[Any]:
        return afunc(state, runtime=get_runtime()) if wants_runtime else afunc(state)

    @functools.wraps(afunc)
    async def run_async(state: Any) -> Any:
        return await call(state)

    @functools.wraps(afunc)
    def run_sync(state: Any) -> Any:
        return run_coroutine_sync(call(state))

    hints = get_type_hints(afunc)
    first = next(iter(inspect.signature(afunc).parameters))
    destinations: tuple[str, ...] | None = None
    returns = hints.get("return")
    if get_origin(returns) is Command:
        (target,) = get_args(returns) or (None,)
        if get_origin(target) is Literal:
            destinations = tuple(get_args(target))
    builder.add_node(
        afunc.__name__,
        RunnableLambda(run_sync, run_async, name=afunc.__name__),
        input_schema=hints.get(first),
        destinations=destinations,
    )
