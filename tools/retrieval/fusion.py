"""Hybrid ranking: fusing the lexical, dense and web rankings into one list.

Two fusions are provided; the retriever uses `score_fusion` (measured better on
the labelled queries, see bench/retrieval.py --ablation):

* `score_fusion`: a weighted sum of each ranker's scores after min-max
  normalisation over its candidates (the "convex combination" of Bruch et al.,
  2023, "An Analysis of Fusion Functions for Hybrid Retrieval"). It keeps each
  ranker's margins: a passage that matches a query's exact terms far better than
  any other stays on top even when the dense ranker is unsure, which matters for
  Chinese queries, where the lexical ranker is the one that can read them.
* `reciprocal_rank_fusion` (Cormack et al., 2009): ``sum(w / (K + rank))``. It
  needs no scores at all, but treats a clear winner and a near tie alike.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The constant from the RRF paper: damps the gap between the first few ranks.
RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[Sequence[str], float]], k: int = RRF_K
) -> list[tuple[str, float]]:
    """Fuse ranked id lists into one by reciprocal rank.

    Args:
        rankings: ``(ids best first, weight)`` per ranker; a weight of 0 drops that ranker.
        k: The RRF constant.

    Returns:
        ``(id, fused score)`` best first. Equal scores keep the order in which the
        ids were first seen (earlier rankers first), so results are deterministic.
    """
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        seen: set[str] = set()
        for rank, item in enumerate(ids, start=1):
            if item in seen:  # a ranker that repeats an id counts it once, at its best rank
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return _sorted(scores)


def score_fusion(rankings: Sequence[tuple[Sequence[tuple[str, float]], float]]) -> list[tuple[str, float]]:
    """Fuse scored candidate lists by a weighted sum of min-max normalised scores.

    Each ranker's scores are mapped onto [0, 1] over its own candidates (best to
    1, worst to 0; a single candidate, or all equal, to 1), multiplied by the
    ranker's weight and summed per id. An id a ranker did not return gets 0 from it.

    Args:
        rankings: ``([(id, score), ...], weight)`` per ranker, any order; higher
            scores are better; a weight of 0 drops that ranker.

    Returns:
        ``(id, fused score)`` best first; ties keep first-seen order.
    """
    scores: dict[str, float] = {}
    for scored, weight in rankings:
        if weight <= 0 or not scored:
            continue
        best: dict[str, float] = {}
        for item, score in scored:  # a repeated id keeps its best score
            best[item] = max(score, best.get(item, score))
        hi, lo = max(best.values()), min(best.values())
        span = hi - lo
        for item, score in best.items():
            scores[item] = scores.get(item, 0.0) + weight * ((score - lo) / span if span > 0 else 1.0)
    return _sorted(scores)


def _sorted(scores: dict[str, float]) -> list[tuple[str, float]]:
    first_seen = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))
