"""Benchmark the council graph: what the graph costs beside the model, and what expert fan-out buys.

Run from the repository root (2-5 minutes on two cores; longer while other jobs share them)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/graph.py              # --prefill: also time prompt reading

Progress goes to stderr, then a table of figure / value / target / pass. The
last stdout line is one JSON object holding every figure and its raw inputs,
all measured in this run, on the embedded model with ``max_new_tokens`` 32,
web search off, a temporary index folder and temporary SQLite files (never
the user's):

- ``overhead_ms_per_turn``: the median wall time of a whole council turn
  (retrieve → plan → consult x2 → synthesize, streamed through an
  `AsyncSqliteSaver` on a temporary file) when the model answers at once and
  the retriever returns fixed passages: what a turn costs besides the model
  and the search. The fakes are the unit tests' own (``ScriptedChatModel``,
  ``FakeRetriever`` from ``tests/unit/council_fakes.py``), patched in for
  this part only, where the unit tests patch them; ``bench/fake_council.py``
  patches process-wide at import, which would also replace the real model
  that this process loads later. The median is over 16 turns: 4 threads of 4
  turns. ``overhead_ms_fresh`` (first turns) and ``overhead_ms_continuing``
  (later turns, which read and write a longer history) split it;
  ``overhead_ms_no_checkpointer`` (the same turns without a checkpointer,
  interleaved) shows what SQLite adds.
- ``overhead_share``: ``overhead_ms_per_turn`` / the wall time of one real
  turn on a fresh thread. Target <= 0.05. The turn runs in a child process
  after the model is loaded and warmed up (one search, one tiny generation),
  so it is a turn as a user's second request would see it; the same child
  gives ``peak_rss_mb``.
- ``parallel_vs_sequential``: the graph's ``consult`` phase (first expert
  start to last expert end, from the turn's ``tasks`` stream) with LangGraph's
  own fan-out / the same phase with ``max_concurrency=1`` in the run config,
  which makes LangGraph run the two ``Send`` branches one after the other.
  Target <= 0.7. The same first turn on fresh threads of the real graph, in 3
  interleaved rounds, medians on both sides (`measure_consult_in_graph`);
  equal work is enforced: the run fails unless every turn of both sides gave
  both experts' opinions with the same token counts (`check_equal_work`).
- ``parallel_vs_sequential_direct``: the same comparison outside the graph,
  as a cross-check that isolates the engine: both experts' requests are rebuilt with
  `agents.council.expert_request` from the real turn's task and passages (the
  turn's own prompts), then `agents.council.expert_reply` runs them with
  ``asyncio.gather`` or one after the other, in 3 rounds with the order
  flipped each round, with the same equal-work check. The paired and best-of
  ratios sit beside the ratio of medians; ``expert_phase_generate_calls``
  shows the parallel pair ran as one batched ``generate`` call.
  ``expert_shared_prefix_tokens`` is how much of the two prompts the engine
  read once for both: the experts' prompts put the shared system prompt, task
  and passages first and each persona last (`agents.council.expert_prompt`).
  With ``--prefill`` the rounds also time both ways with 1-token replies:
  ``prefill_parallel_vs_sequential`` and ``prefill_share_of_sequential`` tell
  how much of the phase is prompt reading, which on a CPU that one request
  already keeps busy only the shared prefix makes cheaper.
- ``followup_vs_first``: the median wall time of a follow-up turn (`FOLLOW_UP`)
  / that of a first turn (`TASK`), same model, same process, side by side in
  2 threads (`measure_followup`). Target <= 1.3: earlier turns enter prompts
  as a compact "decided so far" block under a history budget
  (`agents.decided`). ``prompt_tokens_per_turn`` gives each turn's prompt
  tokens (all its model calls, the model's own tokenizer).
- ``peak_rss_mb``: the peak resident memory (``VmHWM``) of the child process
  that loaded the model and the retriever and ran the real turn, so the fake
  runs and the parent's own model do not count. ``ru_maxrss`` is reported
  beside it but is not used: after vfork + exec Linux carries the parent's
  peak into it.

Every figure comes with its raw times, the model, ``max_new_tokens`` and the
machine's CPU count. Timings are noisy on a shared machine; see the load
averages in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere; tests/ is not an installed package
    sys.path.insert(0, str(ROOT))

from bench.common import finish, log, quiet_transformers  # noqa: E402

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, HumanMessage

    from graphs.context import Context

MODEL_SPEC = "hf/embedded"
#: Tokens per model reply. Small: reading the ~2,200-token prompts dominates a turn on a CPU anyway.
MAX_NEW_TOKENS = 32
TASK = "Draft an AI-compliance standard for a hospital triage chatbot in the EU."
FOLLOW_UP = "Make the privacy controls stricter and add a section on patient consent."
#: Fake-model threads, and turns per thread (the first turn of each is on a fresh thread).
FAKE_THREADS = 4
FAKE_TURNS = 4
#: Interleaved rounds of the expert-phase comparison.
PHASE_REPS = 3
#: Threads of the follow-up comparison: each a first turn, then its follow-up.
FOLLOWUP_PAIRS = 2
#: Environment that would point the bench at the user's own documents or vector server.
USER_DATA_ENV = ("COUNCIL_DOCS_DIR", "COUNCIL_CHROMA_URL", "COUNCIL_EXPERTS_URL", "COUNCIL_DB")


def bench_context(index_dir: Path, max_new_tokens: int) -> Context:
    """The run settings of every turn, stated in full so ``COUNCIL_*`` variables cannot change them."""
    from graphs.context import Context

    return Context(
        model=MODEL_SPEC,
        coordinator_model="",
        scientist_model="",
        legal_expert_model="",
        temperature=0.0,
        top_p=1.0,
        seed=None,
        max_new_tokens=max_new_tokens,
        num_ctx=None,
        mode="auto",  # what the CLI runs; the embedded model cannot call tools, so this is the workflow
        index_dir=str(index_dir),
        docs_dir="",
        retrieval_k=6,
        web_search=False,
        experts_url="",
    )


# -- one turn --------------------------------------------------------------------------


async def timed_turn(
    graph: Any, text: str, thread_id: str, ctx: Context, run_config: dict[str, Any] | None = None
) -> tuple[float, dict[str, Any]]:
    """Run one turn; return its wall time and the state after it, with each node's span.

    ``run_config`` adds run settings to the config, e.g. ``max_concurrency``.

    The turn is streamed with the ``tasks`` mode next to ``values``: the CLI
    streams too, and the task events give each node's start and end as they
    happen (``_spans``: node -> [first start, last end], seconds into the turn).
    """
    from langchain_core.messages import HumanMessage

    config = {"configurable": {"thread_id": thread_id}, **(run_config or {})}
    spans: dict[str, list[float]] = {}
    final: dict[str, Any] = {}
    started = time.perf_counter()
    async for mode, chunk in graph.astream(
        {"messages": [HumanMessage(text)]}, config, context=ctx, stream_mode=["tasks", "values"]
    ):
        now = time.perf_counter() - started
        if mode == "values":
            final = chunk
        else:
            span = spans.setdefault(chunk["name"], [now, now])
            if "result" in chunk or "error" in chunk:
                span[1] = now
    took = time.perf_counter() - started
    final["_spans"] = spans
    return took, final


def check_turn(out: dict[str, Any], what: str, messages: int | None = None) -> None:
    """Fail loudly unless `out` is a finished workflow turn with both experts (and `messages` messages).

    A timing of a turn that silently took another path (agentic mode, a lost
    expert, a thread that forgot its history) would be a timing of something else.
    """
    problems = []
    if out.get("mode") != "workflow":
        problems.append(f"mode {out.get('mode')!r}")
    if len(out.get("opinions", [])) != 2:
        problems.append(f"{len(out.get('opinions', []))} opinions")
    if not out.get("report"):
        problems.append("no report")
    if messages is not None and len(out.get("messages", [])) != messages:
        problems.append(f"{len(out.get('messages', []))} messages, not {messages}")
    if problems:
        raise RuntimeError(f"{what} is not a two-expert workflow turn: {', '.join(problems)}")


def phase_durations(spans: dict[str, list[float]]) -> dict[str, float]:
    """Seconds each node took (for ``consult``: first expert start to last expert end)."""
    return {name: round(end - start, 4) for name, (start, end) in spans.items()}


# -- overhead: the turn with an instant model ----------------------------------------------


@contextmanager
def fake_model_and_retriever() -> Iterator[Any]:
    """Patch in the unit tests' scripted model and fixed retriever, where the unit tests patch them."""
    import agents.council
    import graphs.compliance
    from tests.unit.council_fakes import FakeRetriever, ScriptedChatModel

    model = ScriptedChatModel()
    retriever = FakeRetriever()
    with (
        mock.patch.object(agents.council, "model_for", lambda spec, options: model),
        mock.patch.object(graphs.compliance, "get_retriever", lambda settings: retriever),
    ):
        yield model, retriever


async def measure_overhead(tmp: Path, ctx: Context) -> dict[str, Any]:
    """Fake-model turns through SQLite on fresh and continuing threads, with no-checkpointer turns between."""
    from graphs.checkpointing import open_async_checkpointer
    from graphs.compliance import build_graph

    fresh: list[float] = []
    continuing: list[float] = []
    bare: list[float] = []
    with fake_model_and_retriever() as (model, retriever):
        async with open_async_checkpointer(tmp / "fake-turns.sqlite") as saver:
            graph = build_graph(checkpointer=saver)
            stateless = build_graph()
            # Warm-up: a fresh and a continuing turn pull in lazy imports (history trimming
            # imports the hf adapter, and so torch) that no later turn pays for.
            for text in (TASK, FOLLOW_UP):
                _, out = await timed_turn(graph, text, "warm-up", ctx)
                check_turn(out, "a fake turn")
            await timed_turn(stateless, TASK, "warm-up", ctx)
            for thread in range(FAKE_THREADS):
                for turn in range(FAKE_TURNS):
                    text = TASK if turn == 0 else f"{FOLLOW_UP} (revision {turn})"
                    took, out = await timed_turn(graph, text, f"fake-{thread}", ctx)
                    (fresh if turn == 0 else continuing).append(took)
                    check_turn(out, f"turn {turn + 1} of thread fake-{thread}", messages=2 * (turn + 1))
                    took, _ = await timed_turn(stateless, text, f"bare-{thread}-{turn}", ctx)
                    bare.append(took)
                    # The fakes record every call; keep their memory flat across turns.
                    model.calls.clear()
                    retriever.queries.clear()
    turns = fresh + continuing
    return {
        "overhead_ms_per_turn": statistics.median(turns) * 1000,
        "overhead_ms_fresh": statistics.median(fresh) * 1000,
        "overhead_ms_continuing": statistics.median(continuing) * 1000,
        "overhead_ms_no_checkpointer": statistics.median(bare) * 1000,
        "fake_turns_ms": {
            "fresh": [round(t * 1000, 2) for t in fresh],
            "continuing": [round(t * 1000, 2) for t in continuing],
            "no_checkpointer": [round(t * 1000, 2) for t in bare],
        },
    }


# -- the real model --------------------------------------------------------------------------


async def load_model(ctx: Context) -> tuple[BaseChatModel, float]:
    """The real model, loaded (weights and tokenizer) before anything is timed; and its load time."""
    from agents.council import amodel_for

    started = time.perf_counter()
    model = await amodel_for(ctx.model, ctx.model_options())
    return model, time.perf_counter() - started


async def sync_index(ctx: Context) -> float:
    """Build (or, when it exists, check) the temporary index of the bundled corpus; seconds taken."""
    from tools import RetrievalSettings, get_retriever

    started = time.perf_counter()
    report = await asyncio.to_thread(get_retriever(RetrievalSettings.from_context(ctx)).refresh, False)
    if report.warnings:
        log(f"  index warnings: {report.warnings}")
    return time.perf_counter() - started


async def warm_up(model: BaseChatModel, ctx: Context, search: bool) -> float:
    """Pay first-use costs that no later turn of a user pays, before timing anything; seconds taken.

    Args:
        model: The loaded real model: it runs one tiny request alone and two batched.
        ctx: The run settings (for the retriever).
        search: Also run one search, which loads the embedding model.
    """
    from langchain_core.messages import HumanMessage

    from tools import RetrievalSettings, get_retriever

    started = time.perf_counter()
    if search:
        await get_retriever(RetrievalSettings.from_context(ctx)).asearch(TASK, 1)
    hello = [HumanMessage("Hello")]
    await model.ainvoke(hello, max_new_tokens=2)
    await asyncio.gather(model.ainvoke(hello, max_new_tokens=2), model.ainvoke(hello, max_new_tokens=2))
    return time.perf_counter() - started


async def expert_phase(
    model: BaseChatModel, requests: dict[str, HumanMessage], ctx: Context, parallel: bool
) -> tuple[float, list[AIMessage]]:
    """Both experts answer their requests, concurrently or one after the other; wall time and replies."""
    from agents.council import expert_reply

    async def one(persona: str) -> AIMessage:
        # What the consult node does for a fresh thread: no earlier turns, then the request.
        return await expert_reply(
            persona, [requests[persona]], model, num_ctx=ctx.num_ctx, max_new_tokens=ctx.max_new_tokens
        )

    started = time.perf_counter()
    if parallel:
        replies = list(await asyncio.gather(*(one(p) for p in requests)))
    else:
        replies = [await one(p) for p in requests]
    return time.perf_counter() - started, replies


def check_equal_work(texts: dict[str, list[list[str]]], count_tokens: Callable[[str], int]) -> list[int]:
    """Raise unless every parallel round made the same replies' token counts as every sequential one.

    A ratio of wall times compares like with like only when both sides generated the
    same tokens for the same number of expert calls; greedy decoding should give that.

    Returns:
        Each expert's reply tokens (one per persona, in order).

    Raises:
        RuntimeError: when the two sides did different work.
    """
    counts = {
        name: [[count_tokens(t) for t in replies] for replies in rounds] for name, rounds in texts.items()
    }
    want = counts["sequential"][0]
    for name in ("parallel", "sequential"):
        for replies in counts[name]:
            if replies != want:
                raise RuntimeError(
                    f"unequal work: {name} replies have {replies} tokens, sequential had {want}"
                )
    return want


async def measure_phase(
    model: BaseChatModel, state: dict[str, Any], ctx: Context, prefill: bool
) -> dict[str, Any]:
    """Parallel vs sequential expert phase on the real turn's own prompts, in interleaved rounds.

    Args:
        model: The loaded real model.
        state: The real turn's state: its ``task``, ``language``, ``passages``, ``facts``
            and ``requirements``.
        ctx: The run settings.
        prefill: Also time both ways with one new token per reply (prompt reading only).
    """
    from agents.council import amodel_for, default_question, expert_prompt, expert_request
    from agents.personas import EXPERTS

    # The workflow's questions, as `graphs.compliance` puts them to the experts.
    cited = {r["passage"] for r in state.get("requirements", [])}
    requests: dict[str, HumanMessage] = {
        p: expert_request(
            question=default_question(p, state["language"]),
            task=state["task"],
            language=state["language"],
            passages=[x for x in state["passages"] if x["source_id"] not in cited],
            facts=state.get("facts", {}),
            requirements=state.get("requirements", []),
        )
        for p in EXPERTS
    }
    engine: Any = model.engine()  # type: ignore[attr-defined]
    prompt_tokens = {
        p: model.get_num_tokens_from_messages(
            expert_prompt(p, [requests[p]], model, num_ctx=ctx.num_ctx, max_new_tokens=ctx.max_new_tokens)
        )
        for p in EXPERTS
    }
    variants: dict[str, tuple[BaseChatModel, bool]] = {
        "parallel": (model, True),
        "sequential": (model, False),
    }
    if prefill:
        # Same shared engine, one new token: prompt reading plus a single decode step.
        short = await amodel_for(ctx.model, {**ctx.model_options(), "max_new_tokens": 1})
        variants.update(prefill_parallel=(short, True), prefill_sequential=(short, False))
    times: dict[str, list[float]] = {name: [] for name in variants}
    calls: dict[str, list[int]] = {name: [] for name in variants}
    shared: dict[str, list[int]] = {name: [] for name in variants}
    texts: dict[str, list[list[str]]] = {name: [] for name in variants}
    names = list(variants)
    for rep in range(PHASE_REPS):
        for name in names if rep % 2 == 0 else reversed(names):
            which, parallel = variants[name]
            before, before_shared = engine.batches_run, engine.shared_prefix_tokens
            took, replies = await expert_phase(which, requests, ctx, parallel)
            calls[name].append(engine.batches_run - before)
            shared[name].append(engine.shared_prefix_tokens - before_shared)
            times[name].append(took)
            texts[name].append([r.text for r in replies])
        log(f"  round {rep + 1}: " + ", ".join(f"{n} {times[n][-1]:.1f}s" for n in names))
    if any(c != 1 for c in calls["parallel"]):
        log(f"  warning: the parallel experts took {calls['parallel']} generate calls (1 = batched)")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    rounds = range(PHASE_REPS)
    reply_tokens = check_equal_work(
        texts, lambda t: len(engine.tokenizer.encode(t, add_special_tokens=False))
    )
    result: dict[str, Any] = {
        # Direct (outside the graph): the two replies via `expert_reply`; the figure with the target
        # is the graph's own consult phase (`measure_consult_in_graph`).
        "parallel_vs_sequential_direct": med["parallel"] / med["sequential"],
        # Cross-checks: per-round ratios cancel load that drifts between rounds; best-of ratios
        # show the intrinsic cost when other jobs only ever slow a run down.
        "parallel_vs_sequential_paired": statistics.median(
            times["parallel"][i] / times["sequential"][i] for i in rounds
        ),
        "parallel_vs_sequential_best": min(times["parallel"]) / min(times["sequential"]),
        "expert_phase_s": {name: [round(t, 3) for t in ts] for name, ts in times.items()},
        "expert_phase_median_s": {name: round(t, 3) for name, t in med.items()},
        "expert_phase_generate_calls": calls,
        "expert_prompt_tokens": prompt_tokens,
        # Prompt tokens the parallel pair read once for both (the shared system prompt, task, passages).
        "expert_shared_prefix_tokens": shared["parallel"][0],
        "expert_reply_tokens": dict(zip(EXPERTS, reply_tokens, strict=True)),
        # Equal token counts are enforced (check_equal_work); equal texts are reported.
        "parallel_replies_match_sequential": texts["parallel"] == texts["sequential"],
    }
    if prefill:
        result["prefill_parallel_vs_sequential"] = med["prefill_parallel"] / med["prefill_sequential"]
        result["prefill_share_of_sequential"] = med["prefill_sequential"] / med["sequential"]
    return result


# -- the real turn, and its peak memory, in a child process ------------------------------------


class PromptTokens:
    """A callback that adds up the prompt tokens of every model call (the model's own tokenizer)."""

    def __init__(self, model: BaseChatModel) -> None:
        from langchain_core.callbacks import BaseCallbackHandler

        from agents.history import count_tokens

        outer = self
        self.total = 0

        class _Handler(BaseCallbackHandler):
            run_inline = True

            def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
                outer.total += sum(count_tokens(model, batch) for batch in messages)

        self.handler = _Handler()


async def measure_consult_in_graph(model: BaseChatModel, ctx: Context) -> dict[str, Any]:
    """``parallel_vs_sequential``, through the graph: its ``consult`` phase, fan-out vs one at a time.

    The same first turn runs on fresh threads of the real graph, with LangGraph's
    own scheduling (the two ``consult`` ``Send`` branches of one superstep run
    concurrently) and with ``max_concurrency=1`` in the run config (LangGraph then
    runs them one after the other), in `PHASE_REPS` interleaved rounds. The phase
    is the turn's ``consult`` span: first expert start to last expert end.

    Raises:
        RuntimeError: when a turn is not a two-expert workflow turn, or the two
            sides' opinions differ in tokens (unequal work).
    """
    from langgraph.checkpoint.memory import InMemorySaver

    from graphs.compliance import build_graph

    engine: Any = model.engine()  # type: ignore[attr-defined]

    def count(text: str) -> int:
        return len(engine.tokenizer.encode(text, add_special_tokens=False))

    graph = build_graph(InMemorySaver())
    sides: dict[str, dict[str, Any]] = {"parallel": {}, "sequential": {"max_concurrency": 1}}
    times: dict[str, list[float]] = {name: [] for name in sides}
    texts: dict[str, list[list[str]]] = {name: [] for name in sides}
    for rep in range(PHASE_REPS):
        for name in list(sides) if rep % 2 == 0 else reversed(list(sides)):
            _, final = await timed_turn(graph, TASK, f"consult-{name}-{rep}", ctx, sides[name])
            check_turn(final, f"the {name} consult turn")
            start, end = final["_spans"]["consult"]
            times[name].append(end - start)
            # By persona: the two branches may finish (and so append) in either order.
            texts[name].append([o["answer"] for o in sorted(final["opinions"], key=lambda o: o["persona"])])
        log("  round " + str(rep + 1) + ": " + ", ".join(f"{n} {times[n][-1]:.1f}s" for n in sides))
    reply_tokens = check_equal_work(texts, count)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    return {
        "parallel_vs_sequential": med["parallel"] / med["sequential"],
        "consult_phase_s": {name: [round(t, 3) for t in ts] for name, ts in times.items()},
        "consult_phase_median_s": {name: round(t, 3) for name, t in med.items()},
        "consult_opinion_tokens": reply_tokens,
    }


async def measure_followup(model: BaseChatModel, ctx: Context, tmp: Path) -> dict[str, Any]:
    """``followup_vs_first``: median seconds of a follow-up turn / of a first turn, side by side.

    `FOLLOWUP_PAIRS` threads on the real model, each a first turn (`TASK`) then
    its follow-up (`FOLLOW_UP`), one after the other in this process, so both
    kinds see the same machine, model and warm caches. Prompt tokens per turn
    (all model calls of the turn, counted by the model's tokenizer) show why.
    """
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    from graphs.compliance import build_graph

    graph = build_graph(InMemorySaver())
    times: dict[str, list[float]] = {"first": [], "followup": []}
    tokens: dict[str, list[int]] = {"first": [], "followup": []}
    for i in range(FOLLOWUP_PAIRS):
        for kind, text in (("first", TASK), ("followup", FOLLOW_UP)):
            counter = PromptTokens(model)
            config: Any = {"configurable": {"thread_id": f"followup-{i}"}, "callbacks": [counter.handler]}
            started = time.perf_counter()
            await graph.ainvoke({"messages": [HumanMessage(text)]}, config, context=ctx)
            times[kind].append(time.perf_counter() - started)
            tokens[kind].append(counter.total)
            log(f"  {kind} turn {times[kind][-1]:.1f}s, {counter.total} prompt tokens")
    first, followup = statistics.median(times["first"]), statistics.median(times["followup"])
    return {
        "followup_vs_first": followup / first,
        "followup_turn_s": times,
        "prompt_tokens_per_turn": tokens,
    }


def peak_rss_kib() -> tuple[int, int]:
    """This process's peak resident memory in KiB: ``VmHWM``, and ``ru_maxrss`` for comparison.

    ``ru_maxrss`` cannot be used alone: Linux carries the parent's peak into
    it when the child is started by vfork + exec (as `subprocess` does), so it
    reads the parent's figure whenever that is larger. ``VmHWM`` belongs to
    the child's own address space, created by ``exec``.
    """
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # not Linux: ru_maxrss is all there is
        return maxrss, maxrss
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]), maxrss
    return maxrss, maxrss


async def child_turn(index_dir: Path, max_new_tokens: int) -> dict[str, Any]:
    """In a fresh process: load, warm up, run one real turn on a fresh thread; times, peak RSS, state."""
    from graphs.checkpointing import open_async_checkpointer
    from graphs.compliance import build_graph

    quiet_transformers()
    ctx = bench_context(index_dir, max_new_tokens)
    model, load_s = await load_model(ctx)
    index_s = await sync_index(ctx)
    warm_s = await warm_up(model, ctx, search=True)
    engine: Any = model.engine()  # type: ignore[attr-defined]
    before = engine.batches_run
    with tempfile.TemporaryDirectory(prefix="council-bench-turn-") as tmp:
        async with open_async_checkpointer(Path(tmp) / "turn.sqlite") as saver:
            took, out = await timed_turn(build_graph(checkpointer=saver), TASK, "real", ctx)
    generate_calls = engine.batches_run - before
    check_turn(out, "the real turn", messages=2)
    hwm, maxrss = peak_rss_kib()
    return {
        "peak_rss_kib": hwm,
        "ru_maxrss_kib": maxrss,
        "load_s": load_s,
        "index_sync_s": index_s,
        "warm_up_s": warm_s,
        "turn_s": took,
        "phases_s": phase_durations(out["_spans"]),
        # 2 when the graph's two experts shared one batched call (then the synthesis); 3 when not.
        "generate_calls": generate_calls,
        "report_chars": len(out["report"]),
        # What the parent needs to rebuild the experts' prompts exactly.
        "task": out["task"],
        "language": out["language"],
        "passages": out["passages"],
    }


def run_child(index_dir: Path, max_new_tokens: int) -> dict[str, Any]:
    """Run `child_turn` in a subprocess on the index built here (same env, so the same model cache)."""
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--turn-child",
            str(index_dir),
            "--max-new-tokens",
            str(max_new_tokens),
        ],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


# -- main ------------------------------------------------------------------------------------------

TARGETS: dict[str, tuple[str, float | None]] = {
    "overhead_ms_per_turn": ("report", None),
    "overhead_share": ("<=", 0.05),
    "parallel_vs_sequential": ("<=", 0.7),
    "parallel_vs_sequential_direct": ("report", None),
    "prefill_parallel_vs_sequential": ("report", None),
    "peak_rss_mb": ("report", None),
    "followup_vs_first": ("<=", 1.3),
}


async def run_all(tmp: Path, max_new_tokens: int, prefill: bool) -> dict[str, Any]:
    """Every figure: the fake turns here, the real turn in a child, then the expert phase here.

    Nothing else runs while the child does, so the parent's work neither
    slows its turn down nor counts in its memory.
    """
    import torch

    from tools.retrieval.retriever import reset_retrievers

    index_dir = tmp / "index"
    ctx = bench_context(index_dir, max_new_tokens)
    result: dict[str, Any] = {
        "model": MODEL_SPEC,
        "max_new_tokens": max_new_tokens,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    quiet_transformers()

    log(f"overhead: {FAKE_THREADS} threads x {FAKE_TURNS} turns with the instant fake model, SQLite on")
    result.update(await measure_overhead(tmp, ctx))
    log(
        f"  {result['overhead_ms_per_turn']:.1f} ms/turn (fresh {result['overhead_ms_fresh']:.1f}, "
        f"continuing {result['overhead_ms_continuing']:.1f}, "
        f"no checkpointer {result['overhead_ms_no_checkpointer']:.1f})"
    )

    log(f"indexing the bundled corpus into {index_dir}")
    result["index_build_s"] = await sync_index(ctx)
    # Close the index so the child opens it alone.
    reset_retrievers()
    log(f"  {result['index_build_s']:.1f}s")

    log(f"real turn (fresh thread, max_new_tokens={max_new_tokens}) and peak RSS, in a child process")
    child = await asyncio.to_thread(run_child, index_dir, max_new_tokens)
    state = {key: child.pop(key) for key in ("task", "language", "passages")}
    result["real_turn"] = child
    result["real_turn_s"] = child["turn_s"]
    result["overhead_share"] = result["overhead_ms_per_turn"] / 1000 / child["turn_s"]
    result["peak_rss_mb"] = child["peak_rss_kib"] / 1024
    log(f"  turn {child['turn_s']:.1f}s {child['phases_s']}; peak RSS {result['peak_rss_mb']:.0f} MiB")

    log(f"expert phase: parallel vs sequential, {PHASE_REPS} interleaved rounds")
    model, result["model_load_s"] = await load_model(ctx)
    result["model_dir"] = str(model.engine().path)  # type: ignore[attr-defined]
    await warm_up(model, ctx, search=False)
    result.update(await measure_phase(model, state, ctx, prefill))
    log(
        f"  parallel {result['expert_phase_median_s']['parallel']:.1f}s, "
        f"sequential {result['expert_phase_median_s']['sequential']:.1f}s (medians)"
    )
    log(f"consult phase through the graph: fan-out vs max_concurrency=1, {PHASE_REPS} interleaved rounds")
    result.update(await measure_consult_in_graph(model, ctx))
    log(
        f"  parallel {result['consult_phase_median_s']['parallel']:.1f}s, "
        f"sequential {result['consult_phase_median_s']['sequential']:.1f}s (medians)"
    )
    log(f"follow-up vs first turn: {FOLLOWUP_PAIRS} threads, first turn then follow-up")
    result.update(await measure_followup(model, ctx, tmp))
    log(f"  followup_vs_first {result['followup_vs_first']:.2f}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--turn-child``, only its real turn)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS, help="tokens per model reply")
    parser.add_argument(
        "--prefill", action="store_true", help="also time the expert phase with 1-token replies (slower)"
    )
    parser.add_argument("--turn-child", metavar="INDEX_DIR", help="internal: run one real turn, print JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in USER_DATA_ENV:
        os.environ.pop(name, None)
    if args.turn_child:
        print(json.dumps(asyncio.run(child_turn(Path(args.turn_child), args.max_new_tokens))), flush=True)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="council-bench-graph-"))
    try:
        result = asyncio.run(run_all(tmp, args.max_new_tokens, args.prefill))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish(result, TARGETS)


if __name__ == "__main__":
    sys.exit(main())
