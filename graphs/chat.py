"""A one-shot chat through the model layer, as a graph and a CLI.

The smallest useful graph over `load_chat_model`: one node that answers the
conversation. Run it as `python -m graphs.chat "question"`; it streams the
answer token by token. (The compliance council graph builds on the same layer.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agents import ModelUnavailableError, load_chat_model
from graphs.context import Context


async def respond(state: MessagesState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer the conversation with the model named in the context."""
    ctx = runtime.context or Context()
    model = load_chat_model(ctx.model, **ctx.model_options())
    return {"messages": [await model.ainvoke(state["messages"])]}


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
) -> CompiledStateGraph[MessagesState, Context, MessagesState, MessagesState]:
    """Compile the chat graph, with the caller's checkpointer if any."""
    builder = StateGraph(MessagesState, context_schema=Context)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    builder.add_edge("respond", END)
    return builder.compile(checkpointer=checkpointer, name="chat")


#: For LangGraph Studio / `langgraph dev`: no checkpointer (the server adds its own).
graph = build_graph()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(prog="python -m graphs.chat", description=__doc__.splitlines()[0])
    p.add_argument("prompt", help="what to ask; '-' reads it from stdin")
    p.add_argument("--model", help="model spec: hf/<id-or-path> or ollama/<name> (env COUNCIL_MODEL)")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--num-ctx", type=int)
    return p.parse_args(argv)


async def _run(prompt: str, ctx: Context) -> None:
    # Load (and on first use convert) the model before streaming, so the user
    # sees progress rather than a silent pause.
    model = load_chat_model(ctx.model, **ctx.model_options())
    engine = getattr(model, "engine", None)
    if callable(engine):
        print(f"loading {ctx.model}…", file=sys.stderr, flush=True)
        await asyncio.to_thread(engine)
    async for chunk, _meta in graph.astream(
        {"messages": [HumanMessage(prompt)]}, context=ctx, stream_mode="messages"
    ):
        if isinstance(chunk, AIMessageChunk) and isinstance(chunk.content, str):
            print(chunk.content, end="", flush=True)
    print()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = parse_args(argv)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    try:
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        ctx = Context()
        for name in ("model", *ctx.model_options()):
            value = getattr(args, name)
            if value is not None:
                setattr(ctx, name, value)
        load_chat_model(ctx.model, **ctx.model_options())  # validate before any work
        asyncio.run(_run(prompt, ctx))
    except (ValueError, ModelUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
