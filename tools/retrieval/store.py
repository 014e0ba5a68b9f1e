"""The persistent index: vectors in Chroma, a SQLite manifest of files and chunks, BM25 in memory.

Layout under ``index_dir``::

    chroma/            the embedded Chroma store (vectors), via langchain-chroma
    manifest.sqlite3   files (key, content hash, size, mtime) and chunks (passage fields, ranked text)

Why Chroma: it is the embedded vector store most LangChain users already know,
persists to a folder with no server, and the same code talks to a Chroma server
(``COUNCIL_CHROMA_URL``) when one machine's folder is not enough.

Incremental sync (`Index.sync`): a file whose size and mtime match the manifest
is skipped without reading it; otherwise its SHA-256 decides. New or changed
files are re-chunked and re-embedded; chunks of removed files are deleted. The
manifest row of a file is written only after its vectors are stored, so an
interrupted run never records a file as indexed when it is not. The lexical
index is rebuilt in memory from the manifest's chunk texts after each sync
(tokenising 5,000 chunks takes well under a second; embedding them takes minutes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tools.retrieval.lexical import BM25, tokenize
from tools.retrieval.loaders import UnreadableFileError
from tools.retrieval.sources import SourceFile, file_hash, load_chunks
from tools.retrieval.types import IndexedChunk, Passage

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

#: Bump when the chunking, the ranked text or the tables change: a different version rebuilds the index.
SCHEMA_VERSION = "1"
COLLECTION = "compliance-council"
#: Chunks embedded and stored per step; also the most work an interrupted run can lose.
FLUSH_CHUNKS = 128

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    key TEXT PRIMARY KEY, hash TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    source_id TEXT PRIMARY KEY, file_key TEXT NOT NULL, seq INTEGER NOT NULL,
    title TEXT NOT NULL, locator TEXT NOT NULL, text TEXT NOT NULL, origin TEXT NOT NULL,
    url TEXT, search_text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks (file_key);
"""


@dataclass(frozen=True)
class _Snapshot:
    """The searchable state: chunks, their positions by id, and BM25 over them."""

    chunks: list[IndexedChunk]
    positions: dict[str, int]
    bm25: BM25


@dataclass
class SyncReport:
    """What one `Index.sync` did.

    Attributes:
        unchanged: Files already indexed with the same content.
        indexed: Files (re-)embedded.
        removed: Files whose chunks were deleted.
        chunks_embedded: Chunks embedded in this sync.
        warnings: Files skipped and sections left out, each naming the file.
    """

    unchanged: int = 0
    indexed: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    warnings: list[str] = field(default_factory=list)


def collection_name(index_dir: Path, chroma_url: str | None) -> str:
    """The Chroma collection of an index folder.

    On a shared server each index folder gets its own collection (named after a hash
    of its path), because the folder's manifest describes exactly that collection's
    vectors: two folders sharing one collection would each see the other's chunks as
    unknown and rebuild.
    """
    if not chroma_url:
        return COLLECTION
    return f"{COLLECTION}-{hashlib.sha256(str(index_dir).encode()).hexdigest()[:12]}"


def _chroma_client(persist_dir: Path, chroma_url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=settings,
        )
    persist_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(persist_dir), settings=settings)


class Index:
    """One on-disk index: open it, `sync` it with the source files, then rank against it.

    Thread-safe: `sync` and the ranking methods share one lock-protected snapshot.

    Args:
        index_dir: Folder of the manifest (and of the vectors, without `chroma_url`).
        embeddings: The LangChain embeddings used for chunks and queries.
        embedder_id: Name recorded in the manifest; an index built by another embedder is rebuilt.
        chroma_url: A Chroma server's ``http://host:port``, or None for the embedded store.
    """

    def __init__(
        self, index_dir: Path, embeddings: Embeddings, embedder_id: str, chroma_url: str | None = None
    ) -> None:
        from langchain_chroma import Chroma

        self.index_dir = index_dir
        self.embeddings = embeddings
        self._lock = threading.RLock()
        index_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(index_dir / "manifest.sqlite3", check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._client = _chroma_client(index_dir / "chroma", chroma_url)
        self._collection_name = collection_name(index_dir, chroma_url)
        self._store = Chroma(
            collection_name=self._collection_name,
            embedding_function=embeddings,
            client=self._client,
            collection_metadata={"hnsw:space": "cosine"},
        )
        # Replaced as a whole after each sync, so a search running meanwhile sees the old
        # or the new index, never a mix (ids of one, BM25 rows of the other).
        self._snapshot = _Snapshot([], {}, BM25([]))
        #: What the last sync indexed (set by the retriever): (corpus folder, docs folder).
        self.synced_for: tuple[Path | None, Path | None] | None = None
        self._check_version(embedder_id)

    @property
    def vectors_closer(self) -> Callable[[], None] | None:
        """The Chroma client's ``close``, or None where this chromadb has none.

        A callable that holds the client, not the index, so a `weakref.finalize` on the
        index may run it once the index is garbage.
        """
        close = getattr(self._client, "close", None)
        return close if callable(close) else None

    # -- manifest --------------------------------------------------------------------

    def _check_version(self, embedder_id: str) -> None:
        want = {"schema": SCHEMA_VERSION, "embedder": embedder_id}
        have = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        stale = any(have.get(k) != v for k, v in want.items())
        # The vectors and the manifest must describe the same chunks; if someone deleted
        # one of them (or a Chroma server was wiped), rebuilding is the only safe repair.
        n_rows = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        # Counted through the Chroma client's public API (the store created the collection above).
        n_vectors = self._client.get_collection(self._collection_name).count()
        if stale or n_vectors != n_rows:
            if have:
                log.info("rebuilding the index at %s (version or contents changed)", self.index_dir)
            self._store.reset_collection()
            with self._db:
                self._db.execute("DELETE FROM files")
                self._db.execute("DELETE FROM chunks")
                self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", want.items())

    def _known_files(self) -> dict[str, tuple[str, int, int]]:
        rows = self._db.execute("SELECT key, hash, size, mtime_ns FROM files").fetchall()
        return {key: (digest, size, mtime) for key, digest, size, mtime in rows}

    def _ids_of(self, file_key: str) -> list[str]:
        rows = self._db.execute("SELECT source_id FROM chunks WHERE file_key = ?", (file_key,))
        return [r[0] for r in rows]

    def _delete_file(self, file_key: str) -> None:
        ids = self._ids_of(file_key)
        if ids:
            self._store.delete(ids=ids)
        with self._db:
            self._db.execute("DELETE FROM chunks WHERE file_key = ?", (file_key,))
            self._db.execute("DELETE FROM files WHERE key = ?", (file_key,))

    # -- sync --------------------------------------------------------------------------

    def sync(self, sources: Iterable[SourceFile], progress: bool = True) -> SyncReport:
        """Bring the index in line with `sources`: embed new and changed files, drop removed ones.

        Args:
            sources: Every file that should be in the index (see `list_sources`).
            progress: Show a progress bar on stderr while embedding.

        Returns:
            What was done, with warnings for skipped files.
        """
        with self._lock:
            report = SyncReport()
            known = self._known_files()
            current: set[str] = set()
            changed: list[tuple[SourceFile, str]] = []
            for source in sources:
                current.add(source.key)
                old = known.get(source.key)
                if old is not None and old[1:] == (source.size, source.mtime_ns):
                    report.unchanged += 1
                    continue
                try:
                    digest = file_hash(source.path)
                except OSError as exc:
                    report.warnings.append(f"skipped {source.rel_path}: cannot read ({exc.strerror or exc})")
                    current.discard(source.key)  # its old chunks (if any) describe a file we cannot read
                    continue
                if old is not None and old[0] == digest:
                    report.unchanged += 1  # touched, not changed: remember the new mtime only
                    with self._db:
                        self._db.execute(
                            "UPDATE files SET size = ?, mtime_ns = ? WHERE key = ?",
                            (source.size, source.mtime_ns, source.key),
                        )
                    continue
                changed.append((source, digest))

            for key in sorted(set(known) - current):
                self._delete_file(key)
                report.removed += 1
            # Which file owns each id, after removals: a renamed note keeps its ids.
            owner = dict(self._db.execute("SELECT source_id, file_key FROM chunks").fetchall())
            self._index_changed(changed, owner, report, progress)
            self._load()
            return report

    def _index_changed(
        self,
        changed: list[tuple[SourceFile, str]],
        owner: dict[str, str],
        report: SyncReport,
        progress: bool,
    ) -> None:
        # Phase 1, read and chunk every changed file: fast next to embedding, and it gives
        # the progress bar its true total.
        loaded: list[tuple[SourceFile, str, list[IndexedChunk]]] = []
        for source, digest in changed:
            try:
                chunks, warnings = load_chunks(source)
            except UnreadableFileError as exc:
                report.warnings.append(f"skipped {source.rel_path}: {exc}")
                self._delete_file(source.key)  # stale chunks of a file that is now unreadable
                continue
            report.warnings.extend(warnings)
            kept: list[IndexedChunk] = []
            for chunk in chunks:
                sid = chunk.passage.source_id
                if owner.get(sid, source.key) != source.key:
                    report.warnings.append(
                        f"skipped {sid} in {source.rel_path}: the id is already used by {owner[sid]}"
                    )
                    continue
                owner[sid] = source.key
                kept.append(chunk)
            loaded.append((source, digest, kept))
        report.indexed = len(loaded)
        total = sum(len(chunks) for _, _, chunks in loaded)
        if not loaded:
            return

        # Phase 2, embed and store in groups of whole files of about FLUSH_CHUNKS chunks.
        from tqdm import tqdm

        with tqdm(
            total=total,
            unit="chunk",
            desc=f"indexing {len(loaded)} file(s)",
            file=sys.stderr,
            disable=not progress or total == 0,
            mininterval=0.5,
            dynamic_ncols=True,
        ) as bar:
            group: list[tuple[SourceFile, str, list[IndexedChunk]]] = []
            for item in loaded:
                group.append(item)
                if sum(len(chunks) for _, _, chunks in group) >= FLUSH_CHUNKS:
                    self._flush(group, bar.update)
                    group = []
            self._flush(group, bar.update)
        report.chunks_embedded = total

    def _flush(self, pending: list[tuple[SourceFile, str, list[IndexedChunk]]], advance: Callable) -> None:
        """Store the vectors of `pending` files, then record them in the manifest."""
        if not pending:
            return
        for source, _, chunks in pending:
            new_ids = {c.passage.source_id for c in chunks}
            stale = [sid for sid in self._ids_of(source.key) if sid not in new_ids]
            if stale:
                self._store.delete(ids=stale)
        batch = [c for _, _, chunks in pending for c in chunks]
        step = 32
        for start in range(0, len(batch), step):
            part = batch[start : start + step]
            # add_texts upserts: an id that is already stored (same file, same chunk) is replaced.
            self._store.add_texts(
                texts=[c.search_text for c in part],
                metadatas=[{"source_id": c.passage.source_id, "origin": c.passage.origin} for c in part],
                ids=[c.passage.source_id for c in part],
            )
            advance(len(part))
        with self._db:
            for source, digest, chunks in pending:
                self._db.execute("DELETE FROM chunks WHERE file_key = ?", (source.key,))
                self._db.executemany(
                    "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            p.source_id,
                            source.key,
                            seq,
                            p.title,
                            p.locator,
                            p.text,
                            p.origin,
                            p.url,
                            c.search_text,
                        )
                        for seq, c in enumerate(chunks)
                        for p in (c.passage,)
                    ],
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                    (source.key, digest, source.size, source.mtime_ns),
                )

    def _load(self) -> None:
        """Rebuild the in-memory passages and BM25 from the manifest."""
        rows = self._db.execute(
            "SELECT source_id, title, locator, text, origin, url, search_text FROM chunks "
            "ORDER BY file_key, seq"
        ).fetchall()
        chunks = [
            IndexedChunk(
                passage=Passage(source_id=sid, title=title, locator=loc, text=text, origin=origin, url=url),
                search_text=search_text,
            )
            for sid, title, loc, text, origin, url, search_text in rows
        ]
        positions = {c.passage.source_id: i for i, c in enumerate(chunks)}
        self._snapshot = _Snapshot(chunks, positions, BM25([tokenize(c.search_text) for c in chunks]))

    # -- ranking -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Chunks currently searchable."""
        return len(self._snapshot.chunks)

    def chunks(self) -> list[IndexedChunk]:
        """Every searchable chunk (a snapshot)."""
        return list(self._snapshot.chunks)

    def passage(self, source_id: str) -> Passage | None:
        """The stored passage with this id, if any."""
        snap = self._snapshot
        pos = snap.positions.get(source_id)
        return None if pos is None else snap.chunks[pos].passage

    def lexical(self, tokens: list[str], n: int) -> list[tuple[str, float]]:
        """The `n` best chunks by BM25, as ``(source_id, score)``."""
        snap = self._snapshot
        return [(snap.chunks[i].passage.source_id, s) for i, s in snap.bm25.top(tokens, n)]

    def dense(self, vector: list[float], n: int) -> list[tuple[str, float]]:
        """The `n` nearest chunks by cosine similarity, as ``(source_id, similarity)``."""
        size = len(self._snapshot.chunks)
        if not size:
            return []
        hits = self._store.similarity_search_by_vector_with_relevance_scores(vector, k=min(n, size))
        return [(doc.metadata["source_id"], 1.0 - float(distance)) for doc, distance in hits]

    def stats(self) -> dict[str, Any]:
        """Counts for logs and benchmarks."""
        n_files = self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        return {"files": n_files, "chunks": self.size, "index_dir": str(self.index_dir)}

    def close(self) -> None:
        """Close the manifest database (the Chroma client closes with the process)."""
        self._db.close()

    def __repr__(self) -> str:
        return f"Index({json.dumps(str(self.index_dir))}, chunks={self.size})"
