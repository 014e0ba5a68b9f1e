"""Lexical ranking: BM25 over a CJK-aware tokenisation.

Why a lexical ranker next to the embeddings: all-MiniLM-L6-v2 is an English
model (most CJK characters are ``[UNK]`` to its tokenizer), so a Chinese query
can only meet a note through the Chinese key terms, titles and summaries the
notes carry — exact-term matching, which BM25 does well. It also catches the
identifiers embeddings blur ("Art. 22", "Annex III", "42001").

Tokens:
    * Latin letters and digits: lowercase words, NFKC-normalised (full-width
      ``ＡＩ`` becomes ``ai``), English stop words dropped, a plural ``-s`` folded.
    * CJK: overlapping character bigrams of each run (``人工智能`` →
      ``人工 工智 智能``), the standard segmentation-free scheme for Chinese
      retrieval; a one-character run is kept as a unigram.

BM25 (k1 = 1.2, b = 0.75) is computed with precomputed per-posting weights, so a
query costs one vector add per query term: a few milliseconds over 5,000 chunks.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CJK_START = "\u3400"

#: Function words that match everything and so rank nothing.
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "were",
        "which",
        "with",
        "shall",
        "may",
        "must",
        "should",
        "can",
        "not",
        "no",
        "any",
        "all",
        "other",
    }
)


def _fold(word: str) -> str:
    # A plural "-s" (not "-ss", not short words): "systems" meets "system", "process" stays.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Split text into ranking tokens: folded English words and CJK character bigrams.

    Args:
        text: Any text, in any mix of languages.

    Returns:
        Tokens in order (repeats kept: BM25 counts them).
    """
    tokens: list[str] = []
    for run in _TOKEN.findall(unicodedata.normalize("NFKC", text).lower()):
        if run[0] >= _CJK_START:
            if len(run) == 1:
                tokens.append(run)
            else:
                tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif run not in STOP_WORDS:
            tokens.append(_fold(run))
    return tokens


class BM25:
    """An in-memory BM25 index over a fixed list of documents.

    Args:
        documents: Each document's tokens (see `tokenize`).
        k1: Term-frequency saturation.
        b: Length normalisation strength.
    """

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.size = len(documents)
        lengths = np.array([len(doc) for doc in documents], dtype=np.float64)
        avg = float(lengths.mean()) if self.size and lengths.sum() else 1.0
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(documents):
            for token, count in Counter(doc).items():
                ids, tfs = postings.setdefault(token, ([], []))
                ids.append(i)
                tfs.append(count)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for token, (ids, tfs) in postings.items():
            idx = np.array(ids, dtype=np.int64)
            tf = np.array(tfs, dtype=np.float64)
            df = len(ids)
            # The "+1" (Lucene) idf stays positive for terms in over half the documents.
            idf = math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))
            norm = k1 * (1.0 - b + b * lengths[idx] / avg)
            self._postings[token] = (idx, idf * tf * (k1 + 1.0) / (tf + norm))

    def scores(self, query_tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every document for the query (each distinct query term counted once)."""
        scores = np.zeros(self.size, dtype=np.float64)
        for token in set(query_tokens):
            posting = self._postings.get(token)
            if posting is not None:
                scores[posting[0]] += posting[1]
        return scores

    def top(self, query_tokens: Iterable[str], n: int) -> list[tuple[int, float]]:
        """The `n` best documents with a positive score, as ``(index, score)`` best first."""
        scores = self.scores(query_tokens)
        hits = np.flatnonzero(scores > 0)
        if hits.size > n:
            hits = hits[np.argpartition(-scores[hits], n - 1)[:n]]
        # Ties break on document order so that rankings are deterministic.
        order = sorted(hits.tolist(), key=lambda i: (-scores[i], i))
        return [(i, float(scores[i])) for i in order]
