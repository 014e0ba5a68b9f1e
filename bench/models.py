"""Benchmark the `hf/` model layer on the embedded SmolLM2-135M-Instruct, on CPU.

Run from the repository root (about 3-4 minutes on two cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/models.py      # or: make bench

Progress goes to stderr, then a table of figure / value / target / pass. The
last stdout line is one JSON object holding every figure and its raw inputs,
all measured side by side in this run:

- ``cached_load_speedup``: GGUF conversion (each into a fresh folder of a
  temporary ``COUNCIL_MODEL_CACHE``) / loading an `Engine` from the converted
  folder; median of 3 on both sides. Target >= 5.
- ``adapter_vs_raw_decode``: tokens/s of ``ChatLocalHF.invoke`` / tokens/s of
  a bare ``model.generate`` on the same prompt ids, settings and loaded
  model; both sides make the same number of tokens (checked), median of
  interleaved runs. Target >= 0.95.
- ``batched_2_vs_1``: wall time of two concurrent 64-token requests / one
  such request, median of interleaved runs. Target <= 1.4. For reference,
  ``raw_batched_2_vs_1`` is the same ratio for bare ``model.generate`` on a
  padded batch of two: what the model itself costs at batch 2 on this CPU.
- ``roofline_efficiency``: weight bytes read per decoded token x decode
  tokens/s (prefill excluded) / memory bandwidth of a large tensor copy.
  Reported, no target.
- ``quantized_vs_fp32_decode``: decode tokens/s (prefill excluded) of bare
  ``model.generate`` on an engine loaded with ``quantize="int8"`` / the same on
  the fp32 engine, batch 1; ``quantized_vs_fp32_decode_b2`` at batch 2. Runs
  interleaved, median of `REPS`; both sides forced to the same token count.
  Target >= 1.0: ``quantize=auto`` picks int8 on CPU only while it wins.
  The other generation figures stay on the fp32 engine (``quantize="none"``),
  comparable with earlier runs.
- ``rss_three_personas_vs_one``: process RSS after three `load_chat_model()`
  personas (different options) have each generated once / RSS after one has,
  measured in a fresh subprocess (``--rss-child``). Target <= 1.1.

Timings are noisy on a shared machine; the benchmark uses medians of
interleaved repetitions rather than single runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.common import finish, log, quiet_transformers  # noqa: E402
from bench.roofline import copy_bandwidth, roofline_efficiency, weights_bytes  # noqa: E402

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from agents.models.hf import ChatLocalHF
    from agents.models.hf.engine import Engine

EMBEDDED_SPEC = "hf/embedded"
#: Tokens per request in every generation figure (the brief's 64-token requests).
NEW_TOKENS = 64
#: Interleaved rounds; each figure is a ratio of medians over these.
REPS = 4
#: Tokens per request in the warm-up pass.
WARMUP_TOKENS = 8
#: Tokens per persona reply in the RSS child.
RSS_TOKENS = 16
#: Prompts asking for long answers, so greedy decoding does not stop early.
LONG_PROMPTS = (
    "Write a long, detailed essay on the risks of AI chatbots in hospital triage, "
    "with many sections and examples.",
    "Explain in great detail, step by step, how a regulator should audit a machine learning "
    "model used for credit scoring. Cover data, testing, documentation and monitoring.",
    "List forty distinct requirements for an AI-compliance standard, numbering each one and "
    "explaining it in two sentences.",
    "Tell a long story about a city council that adopts rules for artificial intelligence.",
)
PERSONAS: tuple[dict[str, Any], ...] = (
    {"temperature": 0.0},
    {"temperature": 0.7, "seed": 1},
    {"temperature": 1.0, "top_p": 0.9, "seed": 2},
)

# -- cached load ----------------------------------------------------------------


#: Conversions and cached loads each; the speedup is a ratio of their medians.
LOAD_REPS = 3


def measure_conversion(reps: int = LOAD_REPS) -> tuple[float, Path]:
    """Median wall time of converting the GGUF, each time into a fresh folder of the cache dir.

    Returns:
        The median seconds and the last converted folder (for the cached loads).
    """
    # Import the model code first so the conversion time is not import time.
    import transformers.models.llama.modeling_llama  # noqa: F401

    from agents.models.hf.embedded import ensure_embedded_model, is_complete, model_cache_dir

    times = []
    path = Path()
    for rep in range(reps):
        fresh = model_cache_dir() / f"conversion-{rep}"
        started = time.perf_counter()
        path = ensure_embedded_model(fresh)
        times.append(time.perf_counter() - started)
        if not is_complete(path):
            raise RuntimeError(f"conversion did not finish: {path}")
    return statistics.median(times), path


def measure_cached_load(path: Path, reps: int = LOAD_REPS) -> float:
    """Median wall time of constructing an `Engine` (tokenizer + model) from the converted folder."""
    from agents.models.hf.engine import Engine

    times = []
    for _ in range(reps):
        started = time.perf_counter()
        engine = Engine(path, "cpu", torch.float32)
        times.append(time.perf_counter() - started)
        # Its worker thread keeps the Engine alive forever: drop the weights at least.
        engine.model = None
        del engine
        gc.collect()
    return statistics.median(times)


# -- generation helpers -----------------------------------------------------------


def messages_for(prompt: str) -> list[BaseMessage]:
    """One user turn."""
    from langchain_core.messages import HumanMessage

    return [HumanMessage(prompt)]


def adapter_runs(llm: ChatLocalHF, prompts: list[str], max_new: int) -> tuple[float, int]:
    """Wall time of `invoke` on each prompt at once (one thread each) and the fewest output tokens."""
    gate = threading.Barrier(len(prompts) + 1)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker(prompt: str) -> None:
        gate.wait()
        try:
            usage = llm.invoke(messages_for(prompt), max_new_tokens=max_new).usage_metadata
            counts.append(usage["output_tokens"] if usage else -1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in prompts]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    if errors:
        raise errors[0]
    return took, min(counts)


def raw_runs(
    engine: Engine, rows: list[list[int]], max_new: int, penalty: float, min_new: int | None = None
) -> tuple[float, int]:
    """Wall time of one bare greedy `model.generate` over left-padded `rows`, and the fewest new tokens."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), engine.pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    kwargs: dict[str, Any] = {
        "max_new_tokens": max_new,
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "repetition_penalty": penalty,
        "pad_token_id": engine.pad_id,
        "eos_token_id": sorted(engine.eos_ids),
    }
    if min_new is not None:
        kwargs["min_new_tokens"] = min_new
    started = time.perf_counter()
    with torch.inference_mode():
        out = engine.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
    took = time.perf_counter() - started
    counts = []
    for new in out[:, width:].tolist():
        counts.append(next((i for i, t in enumerate(new) if t in engine.eos_ids), len(new)))
    return took, min(counts)


def interleaved(
    runs: dict[str, Callable[[], tuple[float, int]]], reps: int, tokens: dict[str, int]
) -> dict[str, list[float]]:
    """Run each callable `reps` times, alternating and reversing the order every round.

    Raises:
        RuntimeError: as soon as a run makes a token count other than `tokens[name]`.
    """
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            took, count = runs[name]()
            if count != tokens[name]:
                raise RuntimeError(
                    f"{name} made {count} tokens, not {tokens[name]}: use a longer prompt in LONG_PROMPTS"
                )
            times[name].append(took)
    return times


# -- figures ----------------------------------------------------------------------


def generation_figures(llm: ChatLocalHF, engine: Engine, n: int = NEW_TOKENS) -> dict[str, Any]:
    """Adapter vs raw decode, two concurrent requests vs one, and the decode-only rate.

    One interleaved loop serves all three: the single adapter request is both
    the adapter side of adapter-vs-raw and the "one" side of the batching
    figure; the raw single run is also the n-token run of the decode rate.
    A raw padded batch of two gives the model's own two-vs-one ratio.
    """
    penalty = llm.repetition_penalty
    first, second = LONG_PROMPTS[0], LONG_PROMPTS[1]
    ids = [llm.prompt_ids(messages_for(p)) for p in (first, second)]

    calls_for_two: list[int] = []  # generate calls each pair of concurrent requests took

    def two(tokens: int) -> tuple[float, int]:
        before = engine.batches_run
        result = adapter_runs(llm, [first, second], tokens)
        calls_for_two.append(engine.batches_run - before)
        return result

    def runs(tokens: int) -> dict[str, Callable[[], tuple[float, int]]]:
        return {
            "adapter_one": lambda: adapter_runs(llm, [first], tokens),
            "raw_one": lambda: raw_runs(engine, ids[:1], tokens, penalty),
            "raw_prefill_1": lambda: raw_runs(engine, ids[:1], 1, penalty),
            "adapter_two": lambda: two(tokens),
            "raw_two": lambda: raw_runs(engine, ids, tokens, penalty),
        }

    log(f"  warm-up: every path once with {WARMUP_TOKENS} tokens")
    for run in runs(WARMUP_TOKENS).values():
        run()
    calls_for_two.clear()
    timed = runs(n)
    log(f"  {REPS} interleaved rounds of {', '.join(timed)}")
    times = interleaved(timed, REPS, {name: 1 if name == "raw_prefill_1" else n for name in timed})
    if any(calls != 1 for calls in calls_for_two):
        log(f"  warning: pairs of concurrent requests took {calls_for_two} generate calls (1 = batched)")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    rounds = range(REPS)
    return {
        "adapter_vs_raw_decode": med["raw_one"] / med["adapter_one"],
        "adapter_tok_s": n / med["adapter_one"],
        "raw_tok_s": n / med["raw_one"],
        "batched_2_vs_1": med["adapter_two"] / med["adapter_one"],
        "one_request_s": med["adapter_one"],
        "two_concurrent_s": med["adapter_two"],
        "two_concurrent_generate_calls": calls_for_two,
        "raw_batched_2_vs_1": med["raw_two"] / med["raw_one"],
        # Cross-checks: the median of per-round ratios cancels load that drifts between rounds.
        "adapter_vs_raw_paired": statistics.median(
            times["raw_one"][i] / times["adapter_one"][i] for i in rounds
        ),
        "batched_2_vs_1_paired": statistics.median(
            times["adapter_two"][i] / times["adapter_one"][i] for i in rounds
        ),
        # Best-of ratios: the intrinsic cost when other processes add noise that only slows runs down.
        "adapter_vs_raw_best": min(times["raw_one"]) / min(times["adapter_one"]),
        "batched_2_vs_1_best": min(times["adapter_two"]) / min(times["adapter_one"]),
        "decode_tok_s": (n - 1) / (med["raw_one"] - med["raw_prefill_1"]),
        "prefill_plus_1_token_s": med["raw_prefill_1"],
        "new_tokens": n,
        "prompt_tokens": [len(i) for i in ids],
        "runs_s": times,
    }


def memory_bandwidth(reps: int = 5) -> float:
    """GB/s of a 512 MiB tensor copy, counting bytes read plus written (best of `reps`)."""
    return copy_bandwidth("cpu", reps=reps) / 1e9


def roofline(decode_tok_s: float, model: Any) -> dict[str, Any]:
    """Weight bytes read per decoded token x decode tokens/s, over measured memory bandwidth."""
    size = weights_bytes(model)
    bandwidth = memory_bandwidth()
    return {
        "roofline_efficiency": roofline_efficiency(size, decode_tok_s, 1, bandwidth * 1e9),
        "weights_bytes": size,
        "mem_bandwidth_gb_s": bandwidth,
    }


def quantized_figures(
    fp32: Engine, int8: Engine, ids: list[list[int]], n: int = NEW_TOKENS
) -> dict[str, Any]:
    """Decode rate of the int8 engine over the fp32 one, at batch 1 and 2, interleaved.

    Decode excludes the prefill: (n - 1) new tokens over the n-token run less
    the 1-token run. ``min_new_tokens`` holds both models to n tokens (their
    greedy texts differ, and one may reach EOS first).
    """
    penalty = 1.0
    runs: dict[str, Callable[[], tuple[float, int]]] = {}
    for name, engine in (("fp32", fp32), ("int8", int8)):
        for rows in (1, 2):
            for tokens in (1, n):
                key = f"{name}_b{rows}_{tokens}"
                runs[key] = partial(raw_runs, engine, ids[:rows], tokens, penalty, tokens)
    for run in runs.values():  # warm-up
        run()
    log(f"  {REPS} interleaved rounds of {', '.join(runs)}")
    times = interleaved(runs, REPS, {name: int(name.rsplit("_", 1)[1]) for name in runs})
    med = {name: statistics.median(ts) for name, ts in times.items()}
    rate = {
        f"{name}_b{rows}": rows * (n - 1) / (med[f"{name}_b{rows}_{n}"] - med[f"{name}_b{rows}_1"])
        for name in ("fp32", "int8")
        for rows in (1, 2)
    }
    return {
        "quantized_vs_fp32_decode": rate["int8_b1"] / rate["fp32_b1"],
        "quantized_vs_fp32_decode_b2": rate["int8_b2"] / rate["fp32_b2"],
        "quantized_decode_tok_s": rate,
        "int8_weights_bytes": weights_bytes(int8.model),
        "quantized_runs_s": times,
    }


def rss_child() -> dict[str, Any]:
    """In a fresh process: RSS after one persona generated, then after three."""
    from agents import load_chat_model

    quiet_transformers()
    proc = psutil.Process()
    base = proc.memory_info().rss
    personas = [load_chat_model(EMBEDDED_SPEC, device="cpu", max_new_tokens=RSS_TOKENS, **PERSONAS[0])]
    personas[0].invoke(messages_for(LONG_PROMPTS[0]))
    gc.collect()
    one = proc.memory_info().rss
    for i, options in enumerate(PERSONAS[1:], start=1):
        personas.append(load_chat_model(EMBEDDED_SPEC, device="cpu", max_new_tokens=RSS_TOKENS, **options))
        personas[-1].invoke(messages_for(LONG_PROMPTS[i]))
    gc.collect()
    three = proc.memory_info().rss
    return {"rss_base_bytes": base, "rss_one_bytes": one, "rss_three_bytes": three}


def measure_rss() -> dict[str, Any]:
    """Run the RSS part in a subprocess (same env, so the same converted cache)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--rss-child"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    data["rss_three_personas_vs_one"] = data["rss_three_bytes"] / data["rss_one_bytes"]
    return data


# -- main --------------------------------------------------------------------------

TARGETS: dict[str, tuple[str, float | None]] = {
    "cached_load_speedup": (">=", 5.0),
    "adapter_vs_raw_decode": (">=", 0.95),
    "batched_2_vs_1": ("<=", 1.4),
    "roofline_efficiency": ("report", None),
    "raw_batched_2_vs_1": ("report", None),
    "quantized_vs_fp32_decode": (">=", 1.0),
    "quantized_vs_fp32_decode_b2": ("report", None),
    "rss_three_personas_vs_one": ("<=", 1.1),
}


def run_all() -> dict[str, Any]:
    """Every figure, in one process (RSS in a child)."""
    result: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    quiet_transformers()
    log(f"converting the GGUF into a fresh cache dir ({LOAD_REPS} times, median)")
    result["conversion_s"], path = measure_conversion()
    log(f"  conversion took {result['conversion_s']:.2f}s; loading from the cache (median of {LOAD_REPS})")
    result["cached_load_s"] = measure_cached_load(path)
    result["cached_load_speedup"] = result["conversion_s"] / result["cached_load_s"]
    log(f"  cached load {result['cached_load_s']:.3f}s")

    from agents import load_chat_model
    from agents.models.hf import ChatLocalHF

    # fp32 weights: these figures stay comparable with runs before the quantize option.
    llm = load_chat_model(
        EMBEDDED_SPEC, device="cpu", temperature=0.0, max_new_tokens=NEW_TOKENS, quantize="none"
    )
    assert isinstance(llm, ChatLocalHF)
    engine = llm.engine()
    log(f"generation: adapter vs raw generate, two concurrent requests vs one ({NEW_TOKENS} tokens each)")
    result.update(generation_figures(llm, engine))
    log(f"  adapter {result['adapter_tok_s']:.1f} tok/s, raw {result['raw_tok_s']:.1f} tok/s")
    log(f"  one request {result['one_request_s']:.2f}s, two concurrent {result['two_concurrent_s']:.2f}s")

    log("roofline: weight bytes x decode rate over copy bandwidth")
    result.update(roofline(result["decode_tok_s"], engine.model))
    log(f"  decode {result['decode_tok_s']:.1f} tok/s, bandwidth {result['mem_bandwidth_gb_s']:.1f} GB/s")

    log("int8 weights (quantize=int8) vs fp32: decode rate at batch 1 and 2")
    int8_llm = load_chat_model(EMBEDDED_SPEC, device="cpu", quantize="int8")
    assert isinstance(int8_llm, ChatLocalHF)
    ids = [llm.prompt_ids(messages_for(p)) for p in LONG_PROMPTS[:2]]
    result.update(quantized_figures(engine, int8_llm.engine(), ids))
    log(
        f"  int8/fp32 decode {result['quantized_vs_fp32_decode']:.2f} (batch 1), "
        f"{result['quantized_vs_fp32_decode_b2']:.2f} (batch 2)"
    )

    log("RSS of one vs three personas, in a fresh subprocess")
    result.update(measure_rss())
    log(f"  one {result['rss_one_bytes'] / 2**20:.0f} MiB, three {result['rss_three_bytes'] / 2**20:.0f} MiB")
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--rss-child``, only its RSS part)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rss-child", action="store_true", help="internal: measure RSS in this process")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.rss_child:
        print(json.dumps(rss_child()), flush=True)
        return 0
    cache = tempfile.mkdtemp(prefix="council-bench-cache-")
    os.environ["COUNCIL_MODEL_CACHE"] = cache  # before the first ensure call: a fresh conversion
    try:
        result = run_all()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return finish(result, TARGETS)


if __name__ == "__main__":
    sys.exit(main())
