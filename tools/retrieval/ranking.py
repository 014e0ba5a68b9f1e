"""How the retriever ranks: fusion method and weights, as one options object (default = production).

The benchmark's ablations (bench/retrieval.py ``--ablation``) pass variants of it to
`Retriever.search`; production code never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RankingOptions:
    """Ranking knobs; the defaults are the ones production uses.

    Attributes:
        candidates: Candidates taken from each ranker before fusion.
        fusion: "score" (min-max normalised weighted sum) or "rrf" (reciprocal rank); see `fusion`.
        lexical_weight: Weight of the BM25 ranking in the fusion.
        dense_weight: Weight of the embedding ranking (tuned on the tune split of
            bench/retrieval_queries.jsonl; see docs/benchmarks.md).
        gloss_cjk_queries: Gloss a CJK query into English for the dense ranker with the
            corpus notes' key terms.
        dense_by_coverage: Weight the dense ranking of a CJK query by the share of it the
            glossary could translate. Measured neutral with score fusion, +0.05 Chinese
            section recall@3 with RRF; kept because a query of which one generic term was
            glossed ("人工智能法" → "AI Act") should not let the dense ranker's guess outvote BM25.
        cjk_char_weight: One Chinese character carries about as much as three English
            letters (a word is ~1.5 characters against ~5 letters), so coverage is counted
            in those units for mixed queries.
    """

    candidates: int = 50
    fusion: Literal["score", "rrf"] = "score"
    lexical_weight: float = 1.0
    dense_weight: float = 1.0
    gloss_cjk_queries: bool = True
    dense_by_coverage: bool = True
    cjk_char_weight: int = 3


#: What production searches use.
PRODUCTION = RankingOptions()
