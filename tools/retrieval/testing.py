"""Test helpers: a tiny deterministic embedding, so tests need not load the real model.

`HashingEmbeddings` hashes each token (see `lexical.tokenize`) into one of
`dimensions` buckets and L2-normalises the counts: texts sharing words are
close, which is enough to exercise the dense ranking, and it counts the texts
it embeds so tests can assert what an incremental re-index re-embedded.

    from tools.retrieval import RetrievalSettings, Retriever
    from tools.retrieval.testing import HashingEmbeddings

    retriever = Retriever(RetrievalSettings(index_dir=tmp_path, web=False), embeddings=HashingEmbeddings())
"""

from __future__ import annotations

import hashlib
import math
import threading

from langchain_core.embeddings import Embeddings

from tools.retrieval.lexical import tokenize


class HashingEmbeddings(Embeddings):
    """Bag-of-hashed-tokens vectors; `embedded` lists every document text embedded so far.

    Args:
        dimensions: Vector size.
    """

    model_id = "test/hashing-embeddings"

    def __init__(self, dimensions: int = 64) -> None:
        self.dimensions = dimensions
        self.embedded: list[str] = []
        self.queries: list[str] = []
        self._lock = threading.Lock()

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for token in tokenize(text):
            bucket = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big")
            vector[bucket % self.dimensions] += 1.0
        if not any(vector):
            vector[0] = 1.0  # cosine distance is undefined for a zero vector
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts, remembering them in `embedded`."""
        with self._lock:
            self.embedded.extend(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query, remembering it in `queries`."""
        with self._lock:
            self.queries.append(text)
        return self._vector(text)
