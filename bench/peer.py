"""CPU peer benchmark: the embedded GGUF through llama.cpp's `llama-server` and through our adapter.

Run from the repository root after the one-time build (``make llama-cpp``)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/peer.py      # or: make bench-peer

Both sides get the same prompt token ids (a ~500-token council prompt rendered
by our adapter's chat template), the same thread count, greedy decoding with
no repetition penalty and the same token budget; each side is timed from the
client, streaming, median of 3 runs per side after one warm-up:

- ``decode_vs_llama_cpp``: our decode tokens/s / llama-server's (tokens after
  the first, over the time after the first). Target >= 0.5.
- ``ttft_vs_llama_cpp``: our time to first token / llama-server's (prompt
  cache off). Reported, lower is better.

llama-server ignores EOS; our adapter cannot, so it may stop early: token counts
are in the JSON and decode speed is per token. Without a built llama-server
the script prints the reason and a JSON line with ``skipped``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import finish, log, quiet_transformers
from bench.llama_cpp import llama_server_binary, serve, why_unavailable

THREADS = 2
NEW_TOKENS = 128
REPS = 3
TARGETS = {
    "decode_vs_llama_cpp": (">=", 0.5),
    "ttft_vs_llama_cpp": ("<=", None),
    "llama_cpp_decode_tok_s": (">=", None),
    "adapter_decode_tok_s": (">=", None),
}

#: A realistic council turn: system persona, retrieved context, the task.
SYSTEM = (
    "You are the Legal Counsel on an AI-compliance council. You draft precise, auditable clauses "
    "for an internal AI-compliance standard, citing the EU AI Act article each clause implements. "
    "Write numbered clauses, each one sentence of obligation followed by one sentence of evidence."
)
CONTEXT = (
    "Article 9 requires a risk management system established, implemented, documented and maintained "
    "across the entire lifecycle of a high-risk AI system. Article 10 requires training, validation and "
    "testing data sets to be relevant, sufficiently representative and, to the best extent possible, free "
    "of errors and complete in view of the intended purpose. Article 12 requires automatic recording of "
    "events (logs) over the lifetime of the system. Article 13 requires that high-risk AI systems are "
    "designed so that their operation is sufficiently transparent to enable deployers to interpret the "
    "output and use it appropriately, with instructions for use. Article 14 requires human oversight "
    "measures, including the ability to disregard, override or reverse the output and to interrupt the "
    "system through a stop button. Article 15 requires an appropriate level of accuracy, robustness and "
    "cybersecurity, with accuracy metrics declared in the instructions for use. Article 26 obliges "
    "deployers to use the system in accordance with the instructions, assign human oversight to natural "
    "persons with the necessary competence, monitor operation and keep logs for at least six months. "
    "Article 27 requires deployers that are bodies governed by public law, or private entities providing "
    "public services, to carry out a fundamental rights impact assessment before first use. Article 50 "
    "requires that natural persons are informed that they are interacting with an AI system unless this "
    "is obvious. Annex III point 5 lists AI systems intended to evaluate and classify emergency calls or "
    "to establish priority in the dispatching of emergency first response services, including emergency "
    "healthcare patient triage systems, as high-risk."
)
TASK = (
    "Draft the section of our standard on human oversight and logging for a hospital triage chatbot "
    "deployed in the EU that advises patients whether to come to the emergency department. Cover who may "
    "override the chatbot, how overrides are recorded, how long logs are kept, and what is disclosed to "
    "patients. Keep it to eight clauses."
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed_stream(chunks: Callable[[], Any]) -> tuple[float, float, int]:
    """(ttft_s, decode tok/s, tokens) for an iterator of (arrival, tokens-in-chunk) pairs."""
    start = time.perf_counter()
    first = last = 0.0
    tokens = 0
    for count in chunks():
        now = time.perf_counter()
        if count and not tokens:
            first = now
        tokens += count
        last = now
    if tokens < 2:
        raise RuntimeError(f"only {tokens} token(s) generated: cannot time decoding")
    return first - start, (tokens - 1) / (last - first), tokens


def llama_chunks(url: str, ids: list[int], n: int) -> Callable[[], Any]:
    """Streaming /completion on llama-server: yields 1 per generated token."""
    body = {
        "prompt": ids,
        "n_predict": n,
        "temperature": 0.0,
        "top_k": 1,
        "repeat_penalty": 1.0,
        "ignore_eos": True,
        "cache_prompt": False,
        "stream": True,
    }

    def run() -> Any:
        req = urllib.request.Request(
            f"{url}/completion", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=600) as resp:
            for raw in resp:
                line = raw.decode().strip()
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[len("data: ") :])
                if event.get("stop"):
                    return
                yield 1

    return run


def adapter_chunks(llm: Any, messages: list[Any]) -> Callable[[], Any]:
    """Streaming through `ChatLocalHF.stream`: yields 1 per text chunk (one per token)."""

    def run() -> Any:
        for chunk in llm.stream(messages):
            if chunk.content:
                yield 1

    return run


def median_runs(name: str, run: Callable[[], tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """One warm-up, then REPS timed runs."""
    run()
    out = []
    for i in range(REPS):
        out.append(run())
        log(f"{name} run {i + 1}: ttft {out[-1][0]:.3f}s, decode {out[-1][1]:.1f} tok/s, {out[-1][2]} tokens")
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure both sides and print the table and JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=NEW_TOKENS)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "threads": THREADS,
        "new_tokens": args.tokens,
        "load_avg_start": os.getloadavg(),
    }
    if llama_server_binary() is None:
        result["skipped"] = why_unavailable()
        log(f"skipped: {result['skipped']}")
        return finish(result, TARGETS)

    import torch
    from langchain_core.messages import HumanMessage, SystemMessage

    from agents.models.hf.chat_model import ChatLocalHF
    from agents.models.hf.embedded import embedded_gguf_path

    quiet_transformers()
    torch.set_num_threads(THREADS)
    llm = ChatLocalHF(model="embedded", temperature=0.0, repetition_penalty=1.0, max_new_tokens=args.tokens)
    messages = [SystemMessage(SYSTEM), HumanMessage(f"Context:\n{CONTEXT}\n\nTask: {TASK}")]
    ids = llm.prompt_ids(messages)
    result["prompt_tokens"] = len(ids)
    log(f"prompt: {len(ids)} tokens; adapter loaded")

    ours = median_runs("adapter", lambda: timed_stream(adapter_chunks(llm, messages)))
    with serve(embedded_gguf_path(), port=free_port(), threads=THREADS) as url:
        theirs = median_runs("llama-server", lambda: timed_stream(llama_chunks(url, ids, args.tokens)))

    def med(runs: list[tuple[float, float, int]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    result.update(
        adapter_ttft_s=med(ours, 0),
        adapter_decode_tok_s=med(ours, 1),
        adapter_tokens=[r[2] for r in ours],
        llama_cpp_ttft_s=med(theirs, 0),
        llama_cpp_decode_tok_s=med(theirs, 1),
        llama_cpp_tokens=[r[2] for r in theirs],
    )
    result["decode_vs_llama_cpp"] = result["adapter_decode_tok_s"] / result["llama_cpp_decode_tok_s"]
    result["ttft_vs_llama_cpp"] = result["adapter_ttft_s"] / result["llama_cpp_ttft_s"]
    return finish(result, TARGETS)


if __name__ == "__main__":
    raise SystemExit(main())
