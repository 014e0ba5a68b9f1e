"""Benchmark memory under caller-varied settings: the bounded engine and retriever caches keep RSS flat.

Run from the repository root (about 3-5 minutes on two CPU cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory.py      # or: make bench-memory

Over HTTP the settings that key the process-wide caches come from the client.
This runs 200 "turns", each as a client varying them would: a retrieval with
`get_retriever` on settings never seen before (``k`` cycling 1-10 and a new
index folder every other turn: 100 folders, 200 distinct settings), and a short
generation on the hf engine registry with varied decoding options.

What keys the engine registry is (model folder, device, dtype), not the
decoding options (temperature, top_p and seed only choose which requests share
a batch), so the turns vary the folder and the dtype: the embedded
SmolLM2-135M in three folders of hard links to the same converted files, in
float32 and bfloat16 -- six keys, real loads of the real weights, switching
every 10 turns and alternating dtypes. The index folders are copies of one index of a corpus note
built once with the real embedding model (so a new folder costs a Chroma open
and a manifest check, not an embedding run); every retrieval is a real search.

Each mode runs in a fresh subprocess: ``bounded`` with the defaults
(``COUNCIL_MAX_ENGINES=2``, ``COUNCIL_MAX_RETRIEVERS=4``) and ``raised`` with
both at 1000, which is what the caches did before they had a bound. RSS is
read (psutil, after ``gc.collect()``) after a warm-up of 6 turns on two engine
keys and two folders, and after turns 50, 100, 150 and 200.

Progress goes to stderr; the last stdout line is one JSON object:

- ``rss_mb``: the bounded run's RSS at ``warmup``, ``50`` ... ``200`` (MiB);
  ``growth_mb_after_warmup`` (200 minus warm-up) and ``growth_ratio`` (RSS at
  200 / RSS after warm-up). Target <= 1.10.
- ``growth_ratio_raised`` (and ``raised``: the same figures for the raised
  bounds): what the bounds prevent. Reported, no target.
- ``bounds``: the bounds each mode ran with; per mode, ``engines_loaded`` and
  ``retrievers_built`` (cache misses), what the caches held at the end, and
  ``turn_s`` (mean seconds per turn, for scale only).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.common import finish, log, quiet_transformers  # noqa: E402

TURNS = 200
CHECKPOINTS = (50, 100, 150, 200)
WARMUP_TURNS = 6
#: Engine keys: folders of hard links to the embedded model x dtypes (see `engine_key`).
MODEL_FOLDERS = 3
DTYPES = ("float32", "bfloat16")
ENGINE_EVERY = 10
#: A new index folder every FOLDER_EVERY turns; k cycles through 1..K_CYCLE.
FOLDER_EVERY = 2
K_CYCLE = 10
NEW_TOKENS = 4
#: The bounds of the two modes (None: the code's defaults).
MODES: dict[str, dict[str, str] | None] = {
    "bounded": None,
    "raised": {"COUNCIL_MAX_ENGINES": "1000", "COUNCIL_MAX_RETRIEVERS": "1000"},
}
#: A short corpus note: indexed once with the real model, then copied per folder.
CORPUS_NOTE = ROOT / "tools" / "corpus" / "oecd-ai-principles.md"
QUERIES = (
    "transparency and explainability of AI systems",
    "accountability of AI actors",
    "robustness, security and safety",
    "human rights and democratic values",
    "inclusive growth and well-being",
)
#: Decoding options varied per turn (they pick batches, not engines).
SAMPLINGS = ((0.0, 1.0), (0.7, 0.9), (1.0, 0.95))


def rss_mb() -> float:
    """This process's resident memory in MiB, after collecting garbage."""
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def link_model(source: Path, dest: Path) -> Path:
    """`dest`: a folder of hard links to `source`'s files (copies where linking fails)."""
    dest.mkdir(parents=True)
    for file in source.iterdir():
        if file.is_file():
            try:
                os.link(file, dest / file.name)
            except OSError:
                shutil.copy2(file, dest / file.name)
    return dest


class Workload:
    """The folders, settings and requests of the turns, set up in a temporary folder."""

    def __init__(self, work: Path) -> None:
        from agents.models.hf.embedded import ensure_embedded_model
        from tools.retrieval.retriever import Retriever, reset_retrievers
        from tools.retrieval.settings import RetrievalSettings

        self.work = work
        model = ensure_embedded_model()
        self.models = [link_model(model, work / "models" / f"m{i}") for i in range(MODEL_FOLDERS)]
        self.corpus = work / "corpus"
        self.corpus.mkdir()
        shutil.copy2(CORPUS_NOTE, self.corpus / CORPUS_NOTE.name)
        self.template = work / "template-index"
        retriever = Retriever(RetrievalSettings(index_dir=self.template, web=False), corpus_dir=self.corpus)
        report = retriever.refresh(progress=False)
        log(f"template index: {retriever.index.size} chunks ({report.chunks_embedded} embedded)")
        del retriever
        reset_retrievers()  # closes it (and its Chroma client) before it is copied
        self.engines_seen: weakref.WeakSet[Any] = weakref.WeakSet()
        self.loads = 0
        self.built = 0

    def index_dir(self, n: int) -> Path:
        """Index folder `n`, copied from the template on first use."""
        folder = self.work / "indexes" / f"i{n:03d}"
        if not folder.exists():
            shutil.copytree(self.template, folder)
        return folder

    def retrieve(self, turn: int, folder: int) -> int:
        """One search through `get_retriever` on folder `folder` with this turn's k; passages returned."""
        from tools.retrieval.retriever import get_retriever
        from tools.retrieval.settings import RetrievalSettings

        settings = RetrievalSettings(index_dir=self.index_dir(folder), k=1 + turn % K_CYCLE, web=False)
        before = _cached_retrievers()
        result = get_retriever(settings, corpus_dir=self.corpus).search(QUERIES[turn % len(QUERIES)])
        if settings not in before:
            self.built += 1
        if not result.passages:
            raise RuntimeError(f"turn {turn}: no passages from {settings.index_dir}")
        return len(result.passages)

    def generate(self, turn: int, key: int) -> int:
        """A short generation on engine key `key` with this turn's decoding options; tokens made."""
        import torch

        from agents.models.hf.engine import Event, Request, Sampling, get_engine, loaded_engines

        folder, dtype = self.models[key % MODEL_FOLDERS], getattr(torch, DTYPES[key // MODEL_FOLDERS])
        before = {id(e) for e in loaded_engines()}
        engine = get_engine(folder, "cpu", dtype)
        if id(engine) not in before:
            self.loads += 1
        self.engines_seen.add(engine)
        temperature, top_p = SAMPLINGS[turn % len(SAMPLINGS)]
        events: list[Event] = []
        done = threading.Event()

        def sink(event: Event) -> None:
            events.append(event)
            if event[0] in ("done", "error"):
                done.set()

        ids = list(engine.tokenizer(QUERIES[turn % len(QUERIES)])["input_ids"])
        sampling = Sampling(temperature=temperature, top_p=top_p, repetition_penalty=1.1, seed=turn)
        engine.submit(
            Request(input_ids=ids, sampling=sampling, max_new_tokens=NEW_TOKENS, stop=(), sink=sink)
        )
        if not done.wait(120):
            raise RuntimeError(f"turn {turn}: no answer within 120 s")
        kind, payload = events[-1]
        if kind == "error":
            raise RuntimeError(f"turn {turn}: generation failed") from payload
        return int(payload.completion_tokens)

    def settle(self) -> None:
        """Let evicted engines finish unloading before RSS is read (they unload on their own thread)."""
        for engine in list(self.engines_seen):
            if engine.closed:
                engine.join(30)


def _cached_retrievers() -> set[Any]:
    from tools.retrieval.retriever import _retrievers

    return {settings for settings, _ in _retrievers}


def engine_key(turn: int) -> int:
    """Which of the six (folder, dtype) keys a turn uses: a new one every ENGINE_EVERY turns.

    Consecutive blocks alternate dtypes, so the two engines a bound of 2 keeps are always
    one float32 and one bfloat16, as after the warm-up: RSS compares like with like.
    """
    block = turn // ENGINE_EVERY
    return block % MODEL_FOLDERS + MODEL_FOLDERS * (block % len(DTYPES))


def child(mode: str) -> dict[str, Any]:
    """One mode, in this (fresh) process: warm-up, then the turns, RSS at each checkpoint."""
    from agents.models.hf.engine import loaded_engines, max_engines, unload_engines
    from tools.retrieval.retriever import _indexes, _retrievers, max_retrievers, reset_retrievers

    quiet_transformers()
    with tempfile.TemporaryDirectory(prefix="council-bench-memory-") as tmp:
        load = Workload(Path(tmp))
        # Warm-up: both dtypes' first load, the embedding model, Chroma, the search path.
        for turn in range(WARMUP_TURNS):
            load.generate(turn, key=0 if turn % 2 == 0 else MODEL_FOLDERS)
            load.retrieve(turn, folder=turn % 2)
        load.settle()
        rss = {"warmup": round(rss_mb(), 1)}
        log(f"[{mode}] after warm-up: {rss['warmup']:.0f} MiB")
        started = time.perf_counter()
        for turn in range(1, TURNS + 1):
            load.generate(turn, engine_key(turn))
            load.retrieve(turn, folder=2 + turn // FOLDER_EVERY)
            if turn in CHECKPOINTS:
                load.settle()
                rss[str(turn)] = round(rss_mb(), 1)
                log(
                    f"[{mode}] turn {turn}: {rss[str(turn)]:.0f} MiB "
                    f"({len(loaded_engines())} engines, {len(_retrievers)} retrievers, "
                    f"{len(_indexes)} open indexes)"
                )
        turn_s = (time.perf_counter() - started) / TURNS
        result = {
            "rss_mb": rss,
            "growth_mb_after_warmup": round(rss[str(TURNS)] - rss["warmup"], 1),
            "growth_ratio": round(rss[str(TURNS)] / rss["warmup"], 3),
            "bounds": {"max_engines": max_engines(), "max_retrievers": max_retrievers()},
            "engines_loaded": load.loads,
            "retrievers_built": load.built,
            "engines_at_end": len(loaded_engines()),
            "retrievers_at_end": len(_retrievers),
            "indexes_at_end": len(_indexes),
            "turn_s": round(turn_s, 3),
        }
        unload_engines()
        reset_retrievers()
    return result


def run_mode(mode: str) -> dict[str, Any]:
    """Run one mode in a subprocess with its bounds in the environment; its last stdout line."""
    env = dict(os.environ)
    for name in ("COUNCIL_MAX_ENGINES", "COUNCIL_MAX_RETRIEVERS"):
        env.pop(name, None)
    env.update(MODES[mode] or {})
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        check=True,
    )
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


TARGETS: dict[str, tuple[str, float | None]] = {
    "growth_ratio": ("<=", 1.10),
    "growth_mb_after_warmup": ("report", None),
    "growth_ratio_raised": ("report", None),
    "growth_mb_after_warmup_raised": ("report", None),
}


def main(argv: list[str] | None = None) -> int:
    """Run both modes (or, with ``--child``, one of them in this process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--child", choices=sorted(MODES), help="internal: run one mode in this process")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.child:
        print(json.dumps(child(args.child)), flush=True)
        return 0
    result: dict[str, Any] = {"turns": TURNS}
    for mode in MODES:
        log(f"{mode}: {TURNS} turns in a fresh process ({MODES[mode] or 'default bounds'})")
        result[mode] = run_mode(mode)
    bounded, raised = result["bounded"], result["raised"]
    result.update(
        rss_mb=bounded["rss_mb"],
        growth_mb_after_warmup=bounded["growth_mb_after_warmup"],
        growth_ratio=bounded["growth_ratio"],
        growth_mb_after_warmup_raised=raised["growth_mb_after_warmup"],
        growth_ratio_raised=raised["growth_ratio"],
        bounds={mode: result[mode]["bounds"] for mode in MODES},
        targets={"growth_ratio": "<=1.10"},
    )
    return finish(result, TARGETS)


if __name__ == "__main__":
    sys.exit(main())
