"""Each expert as a graph of its own, for LangGraph Server / Studio and remote consulting.

`scientist` and `legal_expert` answer the conversation they are sent with
their persona's seed memory. The council calls them in-process; with an
experts URL in its context it calls these graphs on that server instead
(agents/remote.py), which is how experts scale out to their own hosts.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agents.council import amodel_for, expert_reply
from agents.personas import ExpertName
from graphs.context import Context
from graphs.limits import RunLimits
from graphs.nodes import add_async_node
from graphs.state import InputState


def build_expert_graph(
    persona: ExpertName, limits: RunLimits | None = None
) -> CompiledStateGraph[InputState, Context, InputState, InputState]:
    """A one-node graph in which expert `persona` answers the conversation.

    Args:
        persona: Which expert.
        limits: For a served graph, what a run may choose (see `graphs.limits`).
    """

    async def answer(state: InputState, runtime: Runtime[Context]) -> dict[str, Any]:
        ctx = runtime.context if isinstance(runtime.context, Context) else Context()
        if limits is not None:
            limits.check(ctx)  # before any model is loaded
        model = await amodel_for(ctx.persona_model(persona), ctx.model_options(ctx.persona_model(persona)))
        reply = await expert_reply(
            persona,
            state["messages"],
            model,
            num_ctx=ctx.num_ctx,
            max_new_tokens=ctx.max_new_tokens,
            stop_repeats=ctx.stop_repeats,
        )
        return {"messages": [reply]}

    builder = StateGraph(InputState, context_schema=Context)
    add_async_node(builder, answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder.compile(name=persona)


# Served graphs: a run chooses only what the operator allowed.
_LIMITS = RunLimits.from_env()
scientist = build_expert_graph("scientist", _LIMITS)
legal_expert = build_expert_graph("legal_expert", _LIMITS)
