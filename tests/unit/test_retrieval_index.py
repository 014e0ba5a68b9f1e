"""The persistent index with a fake embedding: incremental re-index, removals, repairs, warnings.

Chroma's embedded store runs here with sockets disabled (it needs none).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tools.retrieval.errors import DocsDirNotFoundError
from tools.retrieval.retriever import Retriever
from tools.retrieval.settings import RetrievalSettings
from tools.retrieval.testing import HashingEmbeddings

NOTE = """---
id: {id}
title: {title}
title_zh: 测试
url: https://example.org/{id}
---

## s1 | Sec. 1 | {topic} | 中文标题
Key terms: {topic}, 人类监督
Body about {topic}.
摘要：中文摘要。
"""


def _note(corpus: Path, note_id: str, topic: str) -> None:
    (corpus / f"{note_id}.md").write_text(
        NOTE.format(id=note_id, title=note_id.upper(), topic=topic), "utf-8"
    )


@pytest.fixture
def dirs(tmp_path):
    corpus, docs = tmp_path / "corpus", tmp_path / "docs"
    corpus.mkdir()
    docs.mkdir()
    _note(corpus, "alpha", "human oversight")
    _note(corpus, "beta", "data governance")
    (docs / "a.md").write_text("# A\n\nTriage chatbots escalate chest pain to a nurse.", "utf-8")
    (docs / "sub").mkdir()
    (docs / "sub" / "b.txt").write_text("Logging of events for high-risk systems.", "utf-8")
    (docs / ".hidden.md").write_text("ignored", "utf-8")
    (docs / "image.png").write_bytes(b"\x89PNG")
    return tmp_path, corpus, docs


def _retriever(root: Path, corpus: Path, docs: Path | None, emb: HashingEmbeddings) -> Retriever:
    settings = RetrievalSettings(index_dir=root / "index", docs_dir=docs, web=False)
    return Retriever(settings, embeddings=emb, corpus_dir=corpus)


def _ids(retriever: Retriever) -> set[str]:
    return {c.passage.source_id for c in retriever.index.chunks()}


def _chroma_ids(retriever: Retriever) -> set[str]:
    return set(retriever.index._store.get()["ids"])


def test_first_sync_indexes_everything_and_second_embeds_nothing(dirs):
    root, corpus, docs = dirs
    emb = HashingEmbeddings()
    report = _retriever(root, corpus, docs, emb).refresh(progress=False)
    assert (report.indexed, report.unchanged, report.chunks_embedded) == (4, 0, 4)
    assert report.warnings == []
    expected = {"alpha:s1", "beta:s1", "docs:a.md#p1-c1", "docs:sub/b.txt#p1-c1"}

    # A new process: a fresh retriever over the same folder.
    emb2 = HashingEmbeddings()
    again = _retriever(root, corpus, docs, emb2)
    report = again.refresh(progress=False)
    assert (report.indexed, report.unchanged, report.chunks_embedded) == (0, 4, 0)
    assert emb2.embedded == []
    assert _ids(again) == expected == _chroma_ids(again)


def test_changed_new_removed_and_touched_files(dirs):
    root, corpus, docs = dirs
    _retriever(root, corpus, docs, HashingEmbeddings()).refresh(progress=False)

    (docs / "a.md").write_text("# A\n\nNew policy text about model cards.", "utf-8")  # changed
    (docs / "c.html").write_text("<p>Incident reporting within 15 days.</p>", "utf-8")  # new
    (corpus / "beta.md").unlink()  # removed
    stat = (docs / "sub" / "b.txt").stat()
    os.utime(docs / "sub" / "b.txt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched only

    emb = HashingEmbeddings()
    retriever = _retriever(root, corpus, docs, emb)
    report = retriever.refresh(progress=False)
    assert (report.indexed, report.removed, report.unchanged) == (2, 1, 2)
    assert sorted(t.splitlines()[-1] for t in emb.embedded) == [
        "Incident reporting within 15 days.",
        "New policy text about model cards.",
    ]
    assert _ids(retriever) == {"alpha:s1", "docs:a.md#p1-c1", "docs:c.html#p1-c1", "docs:sub/b.txt#p1-c1"}
    assert _chroma_ids(retriever) == _ids(retriever)
    assert retriever.search("model cards", k=1).passages[0].text.endswith("model cards.")


def test_a_file_that_shrinks_loses_its_extra_chunks(dirs):
    root, corpus, docs = dirs
    (docs / "long.txt").write_text("\n\n".join(f"Paragraph {i}. " + "word " * 150 for i in range(4)), "utf-8")
    retriever = _retriever(root, corpus, docs, HashingEmbeddings())
    retriever.refresh(progress=False)
    assert {i for i in _ids(retriever) if "long.txt" in i} == {f"docs:long.txt#p1-c{n}" for n in (1, 2, 3, 4)}
    (docs / "long.txt").write_text("Now one paragraph.", "utf-8")
    retriever.refresh(progress=False)
    assert {i for i in _chroma_ids(retriever) if "long.txt" in i} == {"docs:long.txt#p1-c1"}


def test_unsetting_the_docs_dir_removes_its_chunks(dirs):
    root, corpus, docs = dirs
    _retriever(root, corpus, docs, HashingEmbeddings()).refresh(progress=False)
    corpus_only = _retriever(root, corpus, None, HashingEmbeddings())
    assert corpus_only.refresh(progress=False).removed == 2
    assert _chroma_ids(corpus_only) == {"alpha:s1", "beta:s1"}


def test_corrupt_files_are_skipped_with_a_warning_and_the_rest_indexes(dirs):
    root, corpus, docs = dirs
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage")
    (docs / "blob.txt").write_bytes(b"\x00\x00binary")
    retriever = _retriever(root, corpus, docs, HashingEmbeddings())
    report = retriever.refresh(progress=False)
    assert report.indexed == 4
    assert any(w.startswith("skipped broken.pdf: corrupt PDF") for w in report.warnings)
    assert any(w.startswith("skipped blob.txt: binary") for w in report.warnings)
    result = retriever.search("chest pain nurse")
    assert result.passages[0].source_id == "docs:a.md#p1-c1"
    assert any("broken.pdf" in w for w in result.warnings)


def test_a_file_that_becomes_unreadable_loses_its_old_chunks(dirs):
    root, corpus, docs = dirs
    retriever = _retriever(root, corpus, docs, HashingEmbeddings())
    retriever.refresh(progress=False)
    (docs / "a.md").write_bytes(b"\x00binary now")
    report = retriever.refresh(progress=False)
    assert "docs:a.md#p1-c1" not in _chroma_ids(retriever)
    assert any("a.md" in w for w in report.warnings)


def test_duplicate_note_ids_keep_the_first_file(dirs):
    root, corpus, _docs = dirs
    (corpus / "zeta.md").write_text(NOTE.format(id="alpha", title="Copy", topic="copy"), "utf-8")
    report = _retriever(root, corpus, None, HashingEmbeddings()).refresh(progress=False)
    assert any("alpha:s1 in zeta.md: the id is already used by corpus:alpha.md" in w for w in report.warnings)


def test_changing_the_embedder_rebuilds_and_a_lost_vector_store_is_repaired(dirs):
    root, corpus, docs = dirs
    _retriever(root, corpus, docs, HashingEmbeddings()).refresh(progress=False)

    class Other(HashingEmbeddings):
        model_id = "test/other"

    other = Other()
    _retriever(root, corpus, docs, other).refresh(progress=False)
    assert len(other.embedded) == 4

    shutil.rmtree(root / "index" / "chroma")  # vectors gone, manifest still there
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # as in a new process: Chroma caches one client per path
    emb = HashingEmbeddings()
    repaired = _retriever(root, corpus, docs, emb)
    repaired.refresh(progress=False)
    assert len(emb.embedded) == 4 and len(_chroma_ids(repaired)) == 4


def test_missing_docs_dir_is_one_clear_error(tmp_path):
    settings = RetrievalSettings(index_dir=tmp_path / "index", docs_dir=tmp_path / "nope", web=False)
    with pytest.raises(DocsDirNotFoundError, match="nope") as info:
        Retriever(settings, embeddings=HashingEmbeddings())
    assert isinstance(info.value, ValueError)
    assert str(tmp_path / "nope") in str(info.value)


def test_docs_dir_removed_after_start_is_the_same_error(dirs):
    root, corpus, docs = dirs
    retriever = _retriever(root, corpus, docs, HashingEmbeddings())
    shutil.rmtree(docs)
    with pytest.raises(DocsDirNotFoundError):
        retriever.refresh(progress=False)


def test_progress_bar_goes_to_stderr_and_quiet_means_silent(dirs, capsys):
    root, corpus, docs = dirs
    _retriever(root, corpus, docs, HashingEmbeddings()).refresh(progress=True)
    captured = capsys.readouterr()
    assert "indexing 4 file(s)" in captured.err and captured.out == ""
    (docs / "a.md").write_text("changed", "utf-8")
    _retriever(root, corpus, docs, HashingEmbeddings()).refresh(progress=False)
    assert capsys.readouterr().err == ""


def test_a_chroma_server_url_uses_an_http_client(dirs, monkeypatch):
    import chromadb

    root, corpus, docs = dirs
    calls: list[dict] = []

    def fake_http_client(**kwargs):
        calls.append(kwargs)
        return chromadb.EphemeralClient(
            settings=kwargs["settings"]
        )  # an in-memory store stands in for the server

    monkeypatch.setattr(chromadb, "HttpClient", fake_http_client)
    settings = RetrievalSettings(
        index_dir=root / "index", docs_dir=docs, web=False, chroma_url="https://chroma.lan"
    )
    retriever = Retriever(settings, embeddings=HashingEmbeddings(), corpus_dir=corpus)
    assert retriever.search("chest pain nurse", k=1).passages[0].source_id == "docs:a.md#p1-c1"
    assert calls[0]["host"] == "chroma.lan" and calls[0]["port"] == 443 and calls[0]["ssl"] is True
    assert calls[0]["settings"].anonymized_telemetry is False
    assert retriever.index._store._collection.name.startswith("compliance-council-")
    assert not (root / "index" / "chroma").exists()  # the vectors live on the server
    assert (root / "index" / "manifest.sqlite3").exists()  # the manifest stays local
