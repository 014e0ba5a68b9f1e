"""Benchmark the council through LangGraph Server's HTTP API (`langgraph dev` on 127.0.0.1).

Run from the repository root (about 4-6 minutes on two shared cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/server.py

Progress goes to stderr; the last stdout line is one JSON object:

- ``runs_per_s_1`` and ``runs_per_s_8``: council runs completed per second
  through the HTTP API with 1 and with 8 conversations in flight, on a fake
  instant model and a fixed retriever (`bench/fake_council.py`, served from a
  bench-only langgraph config written to a temporary directory). Each run is
  what a client does for a new conversation: ``POST /threads`` then a blocking
  ``POST /threads/{id}/runs/wait``; each of the N clients loops for
  ``--seconds``. What is measured is the server itself: queue, graph steps,
  checkpoints, HTTP. ``scale_8_vs_1`` is their ratio. For scale,
  ``inprocess_runs_per_s`` is the same fake graph run back to back in this
  process (``ainvoke`` with an in-memory checkpointer): what the graph costs
  without the server. At one run in flight, ``langgraph dev``'s in-memory queue
  (which polls every 0.5 s when idle) dominates; the production server's queue
  is Postgres/Redis-backed.
- ``errors``: runs that raised, returned an ``__error__`` or had no report, over
  both levels. Target 0.
- ``ttft_s``: on the embedded model (the repo's langgraph.json), seconds from
  starting a streamed council run (``stream_mode="messages-tuple"``) to its
  first token chunk, on a warm server; ``ttft_cold_s`` is the same for the
  server's first run, which loads the model and builds the index;
  ``embedded_run_s`` is the warm run's total time (max_new_tokens 16).

Both servers run with ``--n-jobs-per-worker 8`` (``langgraph dev`` runs one run
at a time by default, which would make the 8-way figure a queue).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from langgraph_sdk import get_client  # noqa: E402
from langgraph_sdk.client import LangGraphClient  # noqa: E402

from bench.common import emit_json, log  # noqa: E402
from tests.integration.servers import LanggraphDev  # noqa: E402

CONCURRENCY = (1, 8)
JOBS_PER_WORKER = 8
TASK = "Draft a policy for a hospital triage chatbot in the EU"
EMBEDDED_MAX_NEW_TOKENS = 16


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def fake_config(directory: Path) -> Path:
    """A langgraph config serving `bench/fake_council.py` as ``compliance``, written to `directory`."""
    config = directory / "langgraph.json"
    graph = f"{ROOT / 'bench' / 'fake_council.py'}:graph"
    config.write_text(json.dumps({"dependencies": [str(ROOT)], "graphs": {"compliance": graph}}, indent=2))
    return config


# -- runs per second on the fake model ------------------------------------------------


async def one_run(client: LangGraphClient) -> bool:
    """A new conversation's first turn; True if it produced a report."""
    try:
        thread = await client.threads.create()
        values: Any = await client.runs.wait(
            thread["thread_id"], "compliance", input=user(TASK), raise_error=False
        )
    except Exception as exc:  # counted, and shown once per kind below
        log(f"  run failed: {type(exc).__name__}: {str(exc)[:200]}")
        return False
    if not isinstance(values, dict) or "__error__" in values or not values.get("report"):
        log(f"  run failed: {str(values)[:200]}")
        return False
    return True


async def throughput(url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """`concurrency` clients each running conversations back to back for `seconds`."""
    client = get_client(url=url)
    done = errors = 0

    async def worker(deadline: float) -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            if await one_run(client):
                done += 1
            else:
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
    elapsed = time.monotonic() - started  # until the last run in flight finished
    return {"runs": done, "errors": errors, "elapsed_s": elapsed, "runs_per_s": done / elapsed}


async def inprocess_figure(seconds: float) -> dict[str, Any]:
    """The fake council run back to back in this process, with an in-memory checkpointer."""
    import uuid

    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    import bench.fake_council  # noqa: F401  (patches the model and retriever seams first)
    from graphs.compliance import build_graph

    graph = build_graph(InMemorySaver())
    runs = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
        out = await graph.ainvoke({"messages": [HumanMessage(TASK)]}, config)
        assert out["report"], "the in-process fake run made no report"
        runs += 1
    elapsed = time.monotonic() - started
    return {"runs": runs, "elapsed_s": elapsed, "runs_per_s": runs / elapsed}


async def fake_figures(url: str, seconds: float) -> dict[int, dict[str, Any]]:
    await throughput(url, 2, min(seconds, 3.0))  # warm-up: imports, first checkpoints
    out: dict[int, dict[str, Any]] = {}
    for n in CONCURRENCY:
        result = await throughput(url, n, seconds)
        runs, elapsed, errors = result["runs"], result["elapsed_s"], result["errors"]
        log(f"  {n} in flight: {runs} runs in {elapsed:.1f} s, {errors} errors")
        out[n] = result
    return out


# -- time to first token on the embedded model ----------------------------------------


async def streamed_run(url: str, context: dict[str, Any]) -> dict[str, float]:
    """Stream one council run; seconds to the first token chunk and to the end."""
    client = get_client(url=url)
    thread = await client.threads.create()
    started = time.monotonic()
    first: float | None = None
    async for part in client.runs.stream(
        thread["thread_id"], "compliance", input=user(TASK), context=context, stream_mode="messages-tuple"
    ):
        if part.event == "error":
            raise RuntimeError(f"the embedded run failed: {part.data}")
        if part.event == "messages" and first is None:
            chunk, _ = part.data
            if chunk["type"] == "AIMessageChunk" and chunk["content"]:
                first = time.monotonic()
    if first is None:
        raise RuntimeError("the embedded run streamed no token")
    return {"ttft_s": first - started, "run_s": time.monotonic() - started}


async def embedded_figures(url: str, index_dir: Path) -> dict[str, Any]:
    context = {"max_new_tokens": EMBEDDED_MAX_NEW_TOKENS, "web_search": False, "index_dir": str(index_dir)}
    log("  cold run (loads the model, builds the index) ...")
    cold = await streamed_run(url, context)
    log(f"  cold: first token after {cold['ttft_s']:.1f} s, run {cold['run_s']:.1f} s; warm run ...")
    warm = await streamed_run(url, context)
    log(f"  warm: first token after {warm['ttft_s']:.1f} s, run {warm['run_s']:.1f} s")
    return {"cold": cold, "warm": warm}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per concurrency level")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded-model figure")
    args = parser.parse_args(argv)

    result: dict[str, Any] = {"cpus": os.cpu_count(), "n_jobs_per_worker": JOBS_PER_WORKER}
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        tmpdir = Path(tmp)
        log("fake instant model: starting langgraph dev ...")
        with LanggraphDev(
            fake_config(tmpdir), n_jobs_per_worker=JOBS_PER_WORKER, log_path=tmpdir / "fake.log"
        ) as server:
            fake = asyncio.run(fake_figures(server.url, args.seconds))
        for n in CONCURRENCY:
            result[f"runs_per_s_{n}"] = round(fake[n]["runs_per_s"], 2)
            result[f"runs_{n}"] = fake[n]["runs"]
        result["scale_8_vs_1"] = round(fake[8]["runs_per_s"] / fake[1]["runs_per_s"], 2)
        result["errors"] = sum(fake[n]["errors"] for n in CONCURRENCY)
        result["seconds_per_level"] = args.seconds
        log("fake instant model, in process ...")
        inprocess = asyncio.run(inprocess_figure(min(args.seconds, 10.0)))
        result["inprocess_runs_per_s"] = round(inprocess["runs_per_s"], 2)

        if not args.no_embedded:
            log("embedded model: starting langgraph dev ...")
            with LanggraphDev(n_jobs_per_worker=JOBS_PER_WORKER, log_path=tmpdir / "embedded.log") as server:
                embedded = asyncio.run(embedded_figures(server.url, tmpdir / "index"))
            result["ttft_s"] = round(embedded["warm"]["ttft_s"], 2)
            result["ttft_cold_s"] = round(embedded["cold"]["ttft_s"], 2)
            result["embedded_run_s"] = round(embedded["warm"]["run_s"], 2)
            result["embedded_max_new_tokens"] = EMBEDDED_MAX_NEW_TOKENS
    emit_json(result)
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
