"""The retriever: hybrid search over the bundled corpus and the user's documents, plus the web.

    from tools.retrieval import RetrievalSettings, get_retriever

    retriever = get_retriever(RetrievalSettings.from_env())
    result = retriever.search("human oversight of high-risk AI systems", k=3)
    for passage in result.passages: ...
    result.warnings  # web failures, skipped files: show them to the user

One search ranks the local index two ways and fuses the rankings (`fusion`):

* lexical: BM25 over CJK-aware tokens (`lexical`), which is how a Chinese
  query meets the notes' Chinese key terms and summaries;
* dense: all-MiniLM-L6-v2 cosine similarity in Chroma. The model reads
  English only, so a Chinese query is first glossed into English with the
  corpus notes' own bilingual key terms ("人类监督" → "human oversight"), and
  the dense ranking counts only as much as the gloss covers of the query.

Web results (Tavily, when a key is set and web search is on) are not fused:
their scores are on another scale, and a fused web result would rarely beat a
local passage that both local rankers agree on. Instead they get a fixed share
of the k slots (`web_slots`), after the local passages.

Heavy libraries (torch, chromadb) are imported on first search, not at import.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from tools.lru import LRUCache, release_memory
from tools.retrieval.corpus import CORPUS_DIR, glossary_pairs
from tools.retrieval.errors import DocsDirNotFoundError, EmptyQueryError
from tools.retrieval.fusion import reciprocal_rank_fusion, score_fusion
from tools.retrieval.lexical import tokenize
from tools.retrieval.ranking import PRODUCTION, RankingOptions
from tools.retrieval.settings import MAX_K, RetrievalSettings
from tools.retrieval.sources import list_sources
from tools.retrieval.types import Passage, SearchResult
from tools.retrieval.web import API_KEY_ENV, search_web
from tools.settings_registry import BY_NAME

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from tools.retrieval.store import Index, SyncReport

#: Longer queries are cut: the embedding model reads 256 word pieces, and a 100 kB
#: "query" is a pasted document, whose head carries the topic.
MAX_QUERY_CHARS = 2000
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]*|\d+")
_web_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="council-web-search")


class Retriever:
    """Search one index (bundled corpus + an optional docs folder) and, optionally, the web.

    Use `get_retriever` rather than this constructor: it shares one retriever per
    settings and one loaded embedding model per process.

    Args:
        settings: Index folder, docs folder, default k, web switch.
        embeddings: Embeddings for chunks and queries; None uses all-MiniLM-L6-v2
            (tests pass a small fake).
        corpus_dir: Folder of corpus notes; None indexes no corpus.
        index: An already open `Index` to share; None opens ``settings.index_dir``.

    Raises:
        DocsDirNotFoundError: when ``settings.docs_dir`` is set but is not a folder.
    """

    def __init__(
        self,
        settings: RetrievalSettings,
        *,
        embeddings: Embeddings | None = None,
        corpus_dir: Path | None = CORPUS_DIR,
        index: Index | None = None,
    ) -> None:
        if settings.docs_dir is not None and not settings.docs_dir.is_dir():
            raise DocsDirNotFoundError(settings.docs_dir)
        self.settings = settings
        self.corpus_dir = corpus_dir
        self._embeddings = embeddings
        self._index = index
        self._lock = threading.RLock()
        self._ready = False
        self._index_warnings: list[str] = []
        self._glossary: list[tuple[str, str]] = []

    # -- index -------------------------------------------------------------------------

    @property
    def index(self) -> Index:
        """The open index (opened on first use)."""
        with self._lock:
            if self._index is None:
                if self._embeddings is None:
                    self._index = _shared_index(self.settings.index_dir, self.settings.chroma_url)
                else:
                    from tools.retrieval.store import Index

                    embedder_id = getattr(self._embeddings, "model_id", type(self._embeddings).__name__)
                    self._index = Index(
                        self.settings.index_dir, self._embeddings, embedder_id, self.settings.chroma_url
                    )
            return self._index

    def refresh(self, progress: bool = True) -> SyncReport:
        """Build or update the index from the corpus and the docs folder.

        Only new and changed files are embedded; chunks of removed files are deleted.
        The first `search` calls this; call it again after changing the docs folder.

        Args:
            progress: Show a progress bar on stderr while embedding (False: quiet).

        Returns:
            What was indexed, with warnings for skipped files.

        Raises:
            DocsDirNotFoundError: when the docs folder has disappeared.
        """
        with self._lock:
            sources, warnings = list_sources(
                self.corpus_dir, self.settings.docs_dir, max_doc_bytes=self.settings.max_doc_bytes
            )
            index = self.index
            report = index.sync(sources, progress=progress)
            report.warnings[:0] = warnings
            index.synced_for = (self.corpus_dir, self.settings.docs_dir)
            self._index_warnings = report.warnings
            self._glossary = _build_glossary(index)
            self._ready = True
            return report

    def _ensure_ready(self) -> Index:
        with self._lock:
            index = self.index
            # Another retriever sharing this index folder may have synced other documents.
            if not self._ready or index.synced_for != (self.corpus_dir, self.settings.docs_dir):
                self.refresh(progress=True)
            return index

    # -- search ------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None, ranking: RankingOptions = PRODUCTION) -> SearchResult:
        """The `k` best passages for `query`, with warnings the caller should show.

        Args:
            query: What to look for, in Chinese, English or both.
            k: Passages to return (1-50); None uses the settings' k.
            ranking: How to rank; only the benchmark's ablations pass anything but production.

        Returns:
            Passages best first (``score`` is the fused score) and warnings: web
            failures, files that could not be indexed, a truncated query.

        Raises:
            EmptyQueryError: (a ValueError) for an empty or whitespace-only query.
            ValueError: for a k outside 1-50.
        """
        if not isinstance(query, str) or not query.strip():
            raise EmptyQueryError()
        k = self.settings.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"invalid k: {k!r} (expected an integer 1-{MAX_K})")
        warnings: list[str] = []
        query = query.strip()
        if len(query) > MAX_QUERY_CHARS:
            warnings.append(f"query truncated to its first {MAX_QUERY_CHARS} of {len(query)} characters")
            query = query[:MAX_QUERY_CHARS]

        web_future: Future[tuple[list[Passage], list[str]]] | None = None
        if self.settings.web:
            if os.environ.get(API_KEY_ENV, "").strip():
                # Started first, so the web round trip overlaps the local ranking.
                web_future = _web_pool.submit(search_web, query, k, self.settings.web_timeout_s)
            else:
                warnings.append(f"web search skipped: {API_KEY_ENV} is not set (local results only)")

        index = self._ensure_ready()
        lexical = index.lexical(tokenize(query), ranking.candidates)
        dense_text, dense_weight = self._dense_query(query, ranking)
        dense: list[tuple[str, float]] = []
        if dense_weight > 0:
            dense = index.dense(index.embeddings.embed_query(dense_text), ranking.candidates)

        rankings = [(lexical, ranking.lexical_weight), (dense, dense_weight)]
        if ranking.fusion == "rrf":
            fused = reciprocal_rank_fusion([([sid for sid, _ in r], w) for r, w in rankings])
        else:
            fused = score_fusion(rankings)

        web: list[Passage] = []
        if web_future is not None:
            web, web_warnings = web_future.result()
            warnings.extend(web_warnings)
        n_local = k - min(len(web), web_slots(k))
        passages: list[Passage] = []
        for sid, score in fused:
            if len(passages) >= n_local:
                break
            passage = index.passage(sid)
            if passage is not None:
                passages.append(dataclasses.replace(passage, score=score))
        # Web passages follow, scored below the last local one so that scores still fall.
        floor = passages[-1].score if passages else 1.0
        extra = web[: k - len(passages)]
        passages.extend(
            dataclasses.replace(p, score=floor * (len(extra) - i) / (len(extra) + 1))
            for i, p in enumerate(extra)
        )
        return SearchResult(passages=passages, warnings=[*self._index_warnings, *warnings])

    async def asearch(self, query: str, k: int | None = None) -> SearchResult:
        """`search` in a worker thread, so the event loop keeps running during embedding and I/O."""
        return await asyncio.to_thread(self.search, query, k)

    def _dense_query(self, query: str, ranking: RankingOptions) -> tuple[str, float]:
        """The text the English embedding model should read, and the dense ranking's weight.

        A query without CJK goes to the model as it is, at full weight. Otherwise the
        model reads the query's Latin words plus the English glosses of the Chinese
        key terms found in it, and its ranking is weighted by how much of the query
        that covers: a Chinese query glossed in full counts fully, one where a single
        term was recognised barely counts, and lexical matching decides.
        """
        cjk = len(_CJK.findall(query))
        if not cjk or not ranking.gloss_cjk_queries:
            return query, ranking.dense_weight
        covered: set[int] = set()
        glossed: dict[str, None] = {}
        for en, zh in self._glossary:
            start = query.find(zh)  # plain find: hundreds of terms, one short query
            while start >= 0:
                covered.update(range(start, start + len(zh)))
                glossed[en] = None
                start = query.find(zh, start + 1)
        english = _LATIN_WORD.findall(query)
        text = " ".join([*english, *glossed]).strip()
        if not text:
            return "", 0.0
        if not ranking.dense_by_coverage:
            return text, ranking.dense_weight
        latin = sum(len(w) for w in english)
        readable = latin + ranking.cjk_char_weight * sum(1 for i in covered if _CJK.match(query[i]))
        return text, ranking.dense_weight * readable / (latin + ranking.cjk_char_weight * cjk)


def web_slots(k: int) -> int:
    """How many of `k` passages web results may take: a third, at least one.

    Fewer when the web returns fewer; more only when there are not enough local passages.
    """
    return max(1, k // 3)


def _build_glossary(index: Index) -> list[tuple[str, str]]:
    """English/Chinese term pairs from the corpus notes' key terms, longest Chinese term first."""
    pairs = {
        pair
        for chunk in index.chunks()
        if chunk.passage.origin == "corpus"
        for pair in glossary_pairs(chunk.passage.text)
        if len(pair[1]) >= 2  # one character matches too much
    }
    return sorted(pairs, key=lambda p: (-len(p[1]), p))


# -- process-wide caches ----------------------------------------------------------------
#
# One retriever per (settings, corpus folder), at most ``$COUNCIL_MAX_RETRIEVERS`` of them:
# the settings come from the caller (index folder, k, docs folder...), so an
# unbounded cache would let a client open indexes until memory ran out. Retrievers of one
# index folder share one open `Index`; evicting the last cached retriever of a folder closes
# its index. The evicted retriever forgets its index, so a caller still holding it reopens
# one on its next search instead of using a closed one.

_IndexKey = tuple[Path, str | None]
_cache_lock = threading.Lock()  # guards _indexes
_indexes: dict[_IndexKey, Index] = {}


def max_retrievers() -> int:
    """How many retrievers `get_retriever` keeps: ``$COUNCIL_MAX_RETRIEVERS``.

    Raises:
        ValueError: when the variable is set to anything but a positive integer.
    """
    bound: int = BY_NAME["max_retrievers"].from_env()
    return bound


def _index_key(settings: RetrievalSettings) -> _IndexKey:
    return (settings.index_dir, settings.chroma_url)


def _evicted(key: tuple[RetrievalSettings, Path | None], retriever: Retriever) -> None:
    # The retriever's lock waits out a refresh running on it (one that embeds a docs
    # folder can take minutes): then the caller that caused the eviction does not wait.
    if retriever._lock.acquire(blocking=False):
        try:
            _retire(retriever)
        finally:
            retriever._lock.release()
    else:
        threading.Thread(target=_retire_when_idle, args=(retriever,), daemon=True).start()


def _retire_when_idle(retriever: Retriever) -> None:
    with retriever._lock:
        _retire(retriever)


def _retire(retriever: Retriever) -> None:
    """Detach an evicted retriever from its index; close the index when no cached retriever shares it.

    Call with the retriever's lock held. A search already past its refresh keeps
    working on the closed index: ranking reads the in-memory snapshot and Chroma,
    and Chroma's client is released only once the index is garbage (`_shared_index`).
    """
    retriever._index = None
    retriever._ready = False
    own = _index_key(retriever.settings)
    with _cache_lock:
        used = {_index_key(settings) for (settings, _), _r in _retrievers.snapshot()}
        # Indexes no cached retriever uses: this one's, and any that an evicted
        # retriever still held by a caller reopened. Only this one is known idle
        # (its retriever's lock is held), so only it is closed now; the others
        # close when the last retriever holding them goes.
        unused = {key: _indexes.pop(key) for key in list(_indexes) if key not in used}
    if own in unused:
        unused[own].close()
    unused.clear()  # an index nobody else holds goes now, and its Chroma client with it
    # No gc.collect(): an index is freed by reference counting, and a full collection
    # would stall every thread for a few hundred milliseconds on each eviction.
    release_memory(collect=False)


def _shared_index(index_dir: Path, chroma_url: str | None) -> Index:
    """One open `Index` per folder (and server) per process, over the one MiniLM model."""
    from tools.retrieval.embeddings import MODEL_ID, MiniLMEmbeddings
    from tools.retrieval.store import Index

    with _cache_lock:
        index = _indexes.get((index_dir, chroma_url))
        if index is None:
            index = Index(index_dir, MiniLMEmbeddings(), MODEL_ID, chroma_url)
            _release_chroma_when_unused(index)
            _indexes[(index_dir, chroma_url)] = index
        return index


def _release_chroma_when_unused(index: Index) -> None:
    """Close the index's Chroma client once the index is garbage.

    `Index.close` closes only the manifest, and Chroma keeps every client's store
    (its SQLite connections, its HNSW segments) in a process-wide registry until
    the client is closed: without this, each index folder ever opened stays in
    memory. Closing the client at eviction would break a search still running on
    the index, so it waits for the last reference to go.
    """
    close = index.vectors_closer
    if close is not None:
        _chroma_release[index] = weakref.finalize(index, close)


#: The pending Chroma release of each open shared index (`reset_retrievers` runs them at once).
_chroma_release: weakref.WeakKeyDictionary[Index, weakref.finalize] = weakref.WeakKeyDictionary()


_retrievers: LRUCache[tuple[RetrievalSettings, Path | None], Retriever] = LRUCache(
    max_retrievers, _evicted, name="retrievers"
)


def get_retriever(
    settings: RetrievalSettings | None = None, *, corpus_dir: Path | None = CORPUS_DIR
) -> Retriever:
    """The process-wide retriever for these settings (created on first call; thread-safe).

    At most `max_retrievers()` are kept; a new one evicts the least recently used.

    Args:
        settings: None reads `RetrievalSettings.from_env`.
        corpus_dir: Folder of corpus notes (the bundled one by default; None for none).

    Raises:
        DocsDirNotFoundError: when the settings name a docs folder that does not exist.
        ValueError: for bad environment values when `settings` is None, or a bad
            ``$COUNCIL_MAX_RETRIEVERS``.
    """
    settings = settings if settings is not None else RetrievalSettings.from_env()
    return _retrievers.get_or_create(
        (settings, corpus_dir), lambda: Retriever(settings, corpus_dir=corpus_dir)
    )


def reset_retrievers() -> None:
    """Forget cached retrievers and close their indexes (tests and benchmarks; the model stays loaded).

    Unlike an eviction this closes every shared index and its Chroma client at once,
    even one a retriever outside the cache was using.
    """
    with _cache_lock:
        indexes = list(_indexes.values())
        _indexes.clear()
    _retrievers.clear()
    for index in indexes:
        index.close()
        release = _chroma_release.pop(index, None)
        if release is not None:
            release()
