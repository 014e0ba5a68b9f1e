"""Benchmark the retrieval tool: recall on the labelled queries, indexing and query speed at 5,000 chunks.

Run from the repository root (about 3-5 minutes on two CPU cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py

Progress goes to stderr; the last stdout line is one JSON object:

- ``recall_at_3``: over ``bench/retrieval_queries.jsonl`` (the tune split:
  Chinese and English queries written by the team, each naming the note
  sections that answer it, on which the fusion weights were tuned), the share
  of queries for which at least one of the top 3 passages comes from a note
  named in ``relevant`` (note level). Target >= 0.9.
  ``recall_at_3_section`` is the same with exact sections; ``recall_at_3_zh``,
  ``recall_at_3_en`` (and ``..._section_zh/en``) split by query language.
  Measured on the bundled corpus alone, web search off.
- ``heldout_recall_at_3`` (and ``heldout_...`` for each figure above): the same
  over ``bench/retrieval_queries_heldout.jsonl``, queries written afresh from the
  notes that never tuned the ranking; the honest estimate of recall.
- ``index_full_s`` / ``index_chunks_per_s``: building a fresh index of a
  generated folder of 5,000 chunks (250 plain-text files of 20 paragraphs of
  600-760 characters, words drawn from the corpus notes) plus the bundled
  corpus, with the real embedding model.
- ``query_p95_ms``: 95th-percentile wall time of `Retriever.search` over that
  index (web off; queries from the labelled set, cycled). Target <= 100 ms.
- ``reindex_unchanged_s``: opening that index afresh (new retriever, new Chroma
  client) and syncing it when nothing changed; ``reindex_vs_full`` is its
  ratio to ``index_full_s``. Target <= 0.1.

Everything runs in a temporary index folder, never the user's.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.common import emit_json, log, quiet_transformers  # noqa: E402
from tools.retrieval.ranking import PRODUCTION, RankingOptions  # noqa: E402
from tools.retrieval.retriever import Retriever, reset_retrievers  # noqa: E402
from tools.retrieval.settings import RetrievalSettings  # noqa: E402

#: The tune split: the queries the fusion weights and ablation choices were tuned on.
QUERIES = ROOT / "bench" / "retrieval_queries.jsonl"
#: The held-out split: queries written afresh from the notes and never used to tune the
#: ranking; its recall is the honest estimate. Do not tune on it: add new queries to the
#: tune split instead, and write fresh held-out ones when the ranking changes.
HELDOUT_QUERIES = ROOT / "bench" / "retrieval_queries_heldout.jsonl"
K = 3
#: Paragraphs per generated file, each one chunk (600-780 characters, blank-line separated).
PARAGRAPHS_PER_FILE = 20
#: Timed searches over the 5,000-chunk index, after warm-up.
TIMED_QUERIES = 200


def load_queries(path: Path = QUERIES) -> list[dict[str, Any]]:
    """The labelled queries: ``{"query", "lang", "relevant": [source ids]}`` per line."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if not row.get("query") or row.get("lang") not in ("zh", "en") or not row.get("relevant"):
            raise ValueError(f"bad query row in {path}: {row}")
    return rows


def _note(source_id: str) -> str:
    return source_id.split(":", 1)[0]


def corpus_retriever(index_dir: Path) -> Retriever:
    """A retriever over the bundled corpus alone (web off), indexed."""
    retriever = Retriever(RetrievalSettings(index_dir=index_dir, web=False))
    report = retriever.refresh(progress=False)
    if report.warnings:
        log(f"corpus warnings: {report.warnings}")
    log(f"corpus indexed: {retriever.index.size} passages")
    return retriever


def measure_recall(
    retriever: Retriever,
    queries: list[dict[str, Any]],
    show_misses: bool,
    ranking: RankingOptions = PRODUCTION,
) -> dict[str, Any]:
    """Note- and section-level recall@3, overall and per language, ranking with `ranking`."""
    hits: dict[str, list[tuple[bool, bool]]] = {"zh": [], "en": []}
    for row in queries:
        got = [p.source_id for p in retriever.search(row["query"], K, ranking).passages]
        relevant = set(row["relevant"])
        note_hit = bool({_note(s) for s in got} & {_note(s) for s in relevant})
        section_hit = bool(set(got) & relevant)
        hits[row["lang"]].append((note_hit, section_hit))
        if show_misses and not section_hit:
            verdict = "near" if note_hit else "MISS"
            log(f"{verdict} [{row['lang']}] {row['query']!r}: want {sorted(relevant)}, got {got}")

    def rate(rows: list[tuple[bool, bool]], i: int) -> float:
        return round(sum(r[i] for r in rows) / len(rows), 3) if rows else 0.0

    every = hits["zh"] + hits["en"]
    return {
        "recall_at_3": rate(every, 0),
        "recall_at_3_section": rate(every, 1),
        "recall_at_3_zh": rate(hits["zh"], 0),
        "recall_at_3_en": rate(hits["en"], 0),
        "recall_at_3_section_zh": rate(hits["zh"], 1),
        "recall_at_3_section_en": rate(hits["en"], 1),
        "queries": len(every),
        "queries_zh": len(hits["zh"]),
        "queries_en": len(hits["en"]),
    }


#: Ranking variants compared by --ablation, each production's options with one change.
ABLATIONS: dict[str, RankingOptions] = {
    "lexical_only": replace(PRODUCTION, dense_weight=0.0),
    "dense_only": replace(PRODUCTION, lexical_weight=0.0),
    "rrf_fusion": replace(PRODUCTION, fusion="rrf"),
    "no_gloss": replace(PRODUCTION, gloss_cjk_queries=False),
    "gloss_flat_weight": replace(PRODUCTION, dense_by_coverage=False),
}


def measure_ablations(retriever: Retriever, queries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Recall of each ranking variant in `ABLATIONS`, over the same index."""
    out: dict[str, dict[str, float]] = {}
    for name, ranking in ABLATIONS.items():
        got = measure_recall(retriever, queries, show_misses=False, ranking=ranking)
        out[name] = {k: v for k, v in got.items() if k.startswith("recall")}
        log(f"ablation {name}: {json.dumps(out[name])}")
    return out


def corpus_words() -> list[str]:
    """Every English word occurrence in the bundled notes, repeats kept.

    Drawing from it gives generated text the notes' word frequencies (many short
    function words, a long tail of rare terms), so it tokenises like real prose.
    """
    import re

    from tools.retrieval.corpus import CORPUS_DIR

    words: list[str] = []
    for path in sorted(CORPUS_DIR.glob("*.md")):
        words.extend(re.findall(r"[A-Za-z][A-Za-z-]*", path.read_text(encoding="utf-8")))
    if len(set(words)) < 200:
        raise RuntimeError(f"the bundled corpus in {CORPUS_DIR} is too small to draw text from")
    return words


def generate_docs(folder: Path, chunks: int, seed: int = 7) -> int:
    """Write plain-text files whose paragraphs each make one chunk; returns the number of files.

    Paragraphs are 600-760 characters of words drawn from the corpus notes (see
    `corpus_words`), separated by blank lines, so each is one chunk: two together would
    exceed 800 characters.
    """
    rng = random.Random(seed)
    vocab = corpus_words()
    folder.mkdir(parents=True, exist_ok=True)
    n_files = max(1, round(chunks / PARAGRAPHS_PER_FILE))
    for f in range(n_files):
        paragraphs = []
        for _ in range(PARAGRAPHS_PER_FILE):
            words: list[str] = []
            target = rng.randint(600, 760)
            while sum(len(w) + 1 for w in words) < target:
                words.append(rng.choice(vocab))
            paragraphs.append(" ".join(words).capitalize() + ".")
        sub = folder / f"dept{f % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"doc{f:04d}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return n_files


def measure_scale(work: Path, queries: list[dict[str, Any]], chunks: int) -> dict[str, Any]:
    """Full index, query latency and unchanged re-index over a generated folder."""
    from chromadb.api.client import SharedSystemClient

    docs, index_dir = work / "docs", work / "scale-index"
    n_files = generate_docs(docs, chunks)
    log(f"generated {n_files} files for ~{chunks} chunks in {docs}")
    settings = RetrievalSettings(index_dir=index_dir, docs_dir=docs, web=False)

    started = time.perf_counter()
    retriever = Retriever(settings)
    report = retriever.refresh(progress=True)
    index_full_s = time.perf_counter() - started
    n_chunks = retriever.index.size
    log(f"full index: {n_chunks} chunks ({report.chunks_embedded} embedded) in {index_full_s:.1f} s")

    texts = [q["query"] for q in queries] or ["risk management"]
    for text in texts[:10]:  # warm-up: first-call allocations, caches
        retriever.search(text, K)
    times = []
    for i in range(TIMED_QUERIES):
        t = time.perf_counter()
        retriever.search(texts[i % len(texts)], K)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    log(f"query latency over {n_chunks} chunks: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms")

    # As a new process would: forget the retriever, the open index and Chroma's cached client.
    reset_retrievers()
    del retriever
    SharedSystemClient.clear_system_cache()
    started = time.perf_counter()
    again = Retriever(settings)
    unchanged = again.refresh(progress=False)
    reindex_s = time.perf_counter() - started
    if unchanged.chunks_embedded:
        raise RuntimeError(f"an unchanged folder re-embedded {unchanged.chunks_embedded} chunks")
    log(f"unchanged re-index: {reindex_s:.2f} s ({unchanged.unchanged} files unchanged)")
    return {
        "index_chunks": n_chunks,
        "index_full_s": round(index_full_s, 2),
        "index_chunks_per_s": round(n_chunks / index_full_s, 1),
        "query_p50_ms": round(statistics.median(times), 1),
        "query_p95_ms": round(p95, 1),
        "reindex_unchanged_s": round(reindex_s, 3),
        "reindex_vs_full": round(reindex_s / index_full_s, 4),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the last stdout line is the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--chunks", type=int, default=5000, help="size of the generated folder (default 5000)"
    )
    parser.add_argument("--recall-only", action="store_true", help="skip the 5,000-chunk figures")
    parser.add_argument("--misses", action="store_true", help="log every query whose section was not found")
    parser.add_argument(
        "--ablation", action="store_true", help="also measure recall of other ranking variants"
    )
    args = parser.parse_args(argv)
    quiet_transformers()
    queries = load_queries()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="council-bench-") as tmp:
        work = Path(tmp)
        log(f"recall@{K} over {len(queries)} labelled queries (temporary index in {work})")
        retriever = corpus_retriever(work / "corpus-index")
        result.update(measure_recall(retriever, queries, args.misses))
        log(f"recall (tune split): {json.dumps(result)}")
        heldout = load_queries(HELDOUT_QUERIES)
        log(f"recall@{K} over {len(heldout)} held-out queries (never tuned on)")
        got = measure_recall(retriever, heldout, args.misses)
        result.update({f"heldout_{name}": value for name, value in got.items()})
        log(f"recall (held-out split): {json.dumps(got)}")
        if args.ablation:
            result["ablation"] = measure_ablations(retriever, queries)
        if not args.recall_only:
            result.update(measure_scale(work, queries, args.chunks))
        reset_retrievers()
    result["targets"] = {"recall_at_3": ">=0.9", "query_p95_ms": "<=100", "reindex_vs_full": "<=0.1"}
    emit_json(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
