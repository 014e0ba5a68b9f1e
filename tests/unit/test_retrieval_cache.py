"""get_retriever's cache: bounded LRU by $COUNCIL_MAX_RETRIEVERS; evicting closes the index.

Most tests swap the shared `Index` for a fake that counts closes (no Chroma, no model);
the last ones open real indexes over a fake embedding to check Chroma's client is released.
"""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tools.retrieval import retriever as retriever_module
from tools.retrieval.retriever import Retriever, get_retriever, reset_retrievers
from tools.retrieval.settings import RetrievalSettings
from tools.retrieval.testing import HashingEmbeddings


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.delenv("COUNCIL_MAX_RETRIEVERS", raising=False)
    reset_retrievers()
    yield
    reset_retrievers()


class FakeIndex:
    """Stands in for `store.Index` in `_shared_index`: counts opens and closes."""

    opened: ClassVar[list[FakeIndex]] = []
    #: No Chroma client to release.
    vectors_closer = None

    def __init__(self, index_dir: Path, embeddings: Any, embedder_id: str, chroma_url: str | None) -> None:
        self.index_dir = index_dir
        self.closes = 0
        FakeIndex.opened.append(self)

    def close(self) -> None:
        self.closes += 1


@pytest.fixture
def fake_index(monkeypatch) -> list[FakeIndex]:
    import tools.retrieval.embeddings as embeddings_module
    import tools.retrieval.store as store_module

    FakeIndex.opened = []
    monkeypatch.setattr(store_module, "Index", FakeIndex)
    monkeypatch.setattr(embeddings_module, "MiniLMEmbeddings", lambda: None)
    return FakeIndex.opened


@pytest.fixture
def built(monkeypatch) -> list[Retriever]:
    """Every Retriever that `get_retriever` constructs."""
    created: list[Retriever] = []

    class Counting(Retriever):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(retriever_module, "Retriever", Counting)
    return created


def settings(tmp_path: Path, folder: str = "index", k: int = 3) -> RetrievalSettings:
    return RetrievalSettings(index_dir=tmp_path / folder, k=k, web=False)


def test_the_default_bound_is_four_and_the_least_recently_used_goes(tmp_path, built):
    retrievers = [get_retriever(settings(tmp_path, k=k)) for k in range(1, 6)]
    assert retriever_module.max_retrievers() == 4
    assert [r for _, r in retriever_module._retrievers.snapshot()] == retrievers[1:]


def test_a_hit_does_not_rebuild_and_makes_the_retriever_most_recent(tmp_path, built, monkeypatch):
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", "2")
    a = get_retriever(settings(tmp_path, k=1))
    b = get_retriever(settings(tmp_path, k=2))
    assert get_retriever(settings(tmp_path, k=1)) is a
    assert len(built) == 2
    get_retriever(settings(tmp_path, k=3))  # evicts b, the least recently used
    assert retriever_module._retrievers.snapshot()[0][1] is a
    assert get_retriever(settings(tmp_path, k=2)) is not b
    assert len(built) == 4


def test_evicting_the_last_retriever_of_a_folder_closes_its_index_once(tmp_path, fake_index, monkeypatch):
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", "2")
    a = get_retriever(settings(tmp_path, "a"))
    index_a = a.index
    opened = [get_retriever(settings(tmp_path, name)).index for name in "bc"]  # c evicts a
    assert len(opened) == 2
    assert index_a.closes == 1 and [i.closes for i in fake_index] == [1, 0, 0]
    get_retriever(settings(tmp_path, "d"))  # evicts b
    get_retriever(settings(tmp_path, "e"))  # evicts c
    assert [i.closes for i in fake_index] == [1, 1, 1]
    assert set(retriever_module._indexes) == set()  # d and e have not opened theirs yet
    assert len(retriever_module._retrievers) == 2


def test_a_shared_index_stays_open_while_a_cached_retriever_uses_it(tmp_path, fake_index, monkeypatch):
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", "2")
    k1 = get_retriever(settings(tmp_path, "shared", k=1))
    k2 = get_retriever(settings(tmp_path, "shared", k=2))
    assert k1.index is k2.index
    get_retriever(settings(tmp_path, "other"))  # evicts k1; k2 still reads the folder
    assert fake_index[0].closes == 0
    get_retriever(settings(tmp_path, "third"))  # evicts k2: now nobody does
    assert fake_index[0].closes == 1


def test_an_evicted_retriever_held_by_a_caller_reopens_instead_of_using_a_closed_index(
    tmp_path, fake_index, monkeypatch
):
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", "1")
    held = get_retriever(settings(tmp_path, "a"))
    first = held.index
    get_retriever(settings(tmp_path, "b"))
    assert first.closes == 1
    again = held.index
    assert again is not first and again.closes == 0
    # Nobody caches it, so the next eviction forgets it (the holder keeps it until it lets go).
    get_retriever(settings(tmp_path, "c"))
    assert (tmp_path / "a", None) not in retriever_module._indexes and again.closes == 0


def test_an_eviction_during_a_refresh_closes_the_index_once_the_refresh_is_done(
    tmp_path, fake_index, monkeypatch
):
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", "1")
    busy = get_retriever(settings(tmp_path, "a"))
    index = busy.index
    refreshing, finish = threading.Event(), threading.Event()

    def refresh() -> None:
        with busy._lock:  # what `Retriever.refresh` holds while it embeds
            refreshing.set()
            finish.wait(5)

    worker = threading.Thread(target=refresh)
    worker.start()
    assert refreshing.wait(5)
    started = time.monotonic()
    get_retriever(settings(tmp_path, "b"))  # evicts the busy one without waiting for it
    assert time.monotonic() - started < 1 and index.closes == 0
    finish.set()
    worker.join()
    deadline = time.monotonic() + 5
    while index.closes == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert index.closes == 1


@pytest.mark.parametrize("raw", ["x", "0", "-3"])
def test_a_bad_bound_is_one_clear_value_error(tmp_path, monkeypatch, raw):
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", raw)
    with pytest.raises(ValueError) as info:
        get_retriever(settings(tmp_path))
    assert (
        str(info.value) == f"invalid value for $COUNCIL_MAX_RETRIEVERS: {raw!r} (expected a positive integer)"
    )


# -- real indexes: Chroma's client goes with the evicted index ---------------------------


def _chroma_systems() -> set[str]:
    from chromadb.api.shared_system_client import SharedSystemClient

    return set(SharedSystemClient._identifier_to_system)


def test_an_evicted_index_releases_its_chroma_client(tmp_path, monkeypatch):
    import tools.retrieval.embeddings as embeddings_module

    monkeypatch.setattr(embeddings_module, "MiniLMEmbeddings", HashingEmbeddings)
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", "1")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text(
        "---\nid: note\ntitle: Note\n---\n\n## s1 | S1 | Oversight\nHumans oversee the system.\n", "utf-8"
    )
    a = get_retriever(settings(tmp_path, "a"), corpus_dir=corpus)
    assert a.search("oversee", k=1).passages
    chroma_a = str(tmp_path / "a" / "chroma")
    assert chroma_a in _chroma_systems()
    b = get_retriever(settings(tmp_path, "b"), corpus_dir=corpus)
    assert b.search("oversee", k=1).passages
    gc.collect()
    assert chroma_a not in _chroma_systems()
    # The evicted retriever still works for a caller that kept it: it opens the folder again.
    assert a.search("oversee", k=1).passages
