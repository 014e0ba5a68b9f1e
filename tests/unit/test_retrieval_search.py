"""Retriever.search with a fake embedding: bad input, truncation, Chinese queries, caching, async."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tools.retrieval import retriever as retriever_module
from tools.retrieval.errors import EmptyQueryError
from tools.retrieval.retriever import MAX_QUERY_CHARS, Retriever, get_retriever, reset_retrievers
from tools.retrieval.settings import RetrievalSettings
from tools.retrieval.testing import HashingEmbeddings

NOTES = {
    "eu-ai-act": """---
id: eu-ai-act
title: EU Artificial Intelligence Act
title_zh: 欧盟《人工智能法》
url: https://eur-lex.europa.eu/eli/reg/2024/1689/oj
---

## art-14 | Art. 14 | Human oversight | 人类监督
Key terms: human oversight, 人类监督; stop button, 停止按钮
High-risk AI systems are designed so that natural persons can oversee them and interrupt them.
摘要：高风险人工智能系统应能由自然人有效监督。

## art-10 | Art. 10 | Data and data governance | 数据与数据治理
Key terms: data governance, 数据治理; bias, 偏见
Training, validation and testing data sets meet quality criteria and are examined for bias.
摘要：训练数据须符合质量标准并检查偏见。
""",
    "gdpr": """---
id: gdpr
title: General Data Protection Regulation
title_zh: 《通用数据保护条例》
url: https://eur-lex.europa.eu/eli/reg/2016/679/oj
---

## art-22 | Art. 22 | Automated individual decision-making | 自动化个人决策
Key terms: automated decision-making, 自动化决策; profiling, 画像
A data subject may refuse decisions based solely on automated processing, including profiling.
摘要：数据主体有权不受仅基于自动化处理作出的决定的约束。
""",
}


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / f"{name}.md").write_text(text, "utf-8")
    return folder


@pytest.fixture
def make(tmp_path, corpus):
    def make(emb: HashingEmbeddings | None = None, **kwargs) -> Retriever:
        settings = RetrievalSettings(index_dir=tmp_path / "index", web=False, **kwargs)
        return Retriever(settings, embeddings=emb or HashingEmbeddings(), corpus_dir=corpus)

    return make


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_a_clear_error(make, query):
    with pytest.raises(EmptyQueryError, match="empty query"):
        make().search(query)
    assert issubclass(EmptyQueryError, ValueError)


@pytest.mark.parametrize("k", [0, 51, -1, True, "3"])
def test_bad_k_is_a_value_error(make, k):
    with pytest.raises(ValueError, match="invalid k"):
        make().search("oversight", k=k)


def test_first_search_builds_the_index_lazily(make):
    emb = HashingEmbeddings()
    retriever = make(emb)
    assert emb.embedded == []
    assert retriever.search("human oversight", k=1).passages[0].source_id == "eu-ai-act:art-14"
    assert len(emb.embedded) == 3
    retriever.search("bias")
    assert len(emb.embedded) == 3  # not rebuilt per search


def test_a_100kb_query_is_truncated_not_crashed(make):
    emb = HashingEmbeddings()
    result = make(emb).search("automated decision-making profiling " * 3000)
    assert result.passages[0].source_id == "gdpr:art-22"
    assert any(f"query truncated to its first {MAX_QUERY_CHARS}" in w for w in result.warnings)
    assert all(len(q) <= MAX_QUERY_CHARS for q in emb.queries)


def test_k_and_scores(make):
    result = make(k=2).search("data governance bias")
    assert len(result.passages) == 2
    assert result.passages[0].source_id == "eu-ai-act:art-10"
    assert result.passages[0].score >= result.passages[1].score > 0
    assert len(make().search("data", k=1).passages) == 1


def test_chinese_query_finds_the_english_note_and_is_glossed_for_the_dense_ranker(make):
    emb = HashingEmbeddings()
    result = make(emb).search("自动化决策和画像有什么限制？", k=1)
    assert result.passages[0].source_id == "gdpr:art-22"
    # The English model is given the notes' own English terms for the Chinese ones it saw.
    assert emb.queries[-1] == "automated decision-making profiling"


def test_chinese_query_without_glossary_terms_skips_the_dense_ranker(make):
    emb = HashingEmbeddings()
    result = make(emb).search("欧盟", k=3)
    assert emb.queries == []
    assert {p.source_id for p in result.passages} == {"eu-ai-act:art-14", "eu-ai-act:art-10"}


def test_mixed_query_keeps_its_english_words_for_the_dense_ranker(make):
    emb = HashingEmbeddings()
    make(emb).search("GDPR Art. 22 自动化决策")
    assert emb.queries[-1] == "GDPR Art 22 automated decision-making"


async def test_asearch_runs_in_a_worker_thread(make):
    retriever = make()
    threads: list[str] = []
    original = retriever.search

    def spy(query, k=None):
        threads.append(threading.current_thread().name)
        return original(query, k)

    retriever.search = spy  # type: ignore[method-assign]
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    result = await retriever.asearch("human oversight", 1)
    task.cancel()
    assert result.passages[0].source_id == "eu-ai-act:art-14"
    assert threads and threads[0] != threading.main_thread().name
    assert ticks > 0  # the loop kept running during the search


def test_get_retriever_is_one_per_settings_and_thread_safe(tmp_path, monkeypatch):
    reset_retrievers()
    created: list[Retriever] = []
    original_init = Retriever.__init__

    def counting_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(Retriever, "__init__", counting_init)
    settings = RetrievalSettings(index_dir=tmp_path / "index")
    results: list[Retriever] = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        results.append(get_retriever(RetrievalSettings(index_dir=tmp_path / "index")))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1 and all(r is created[0] for r in results)
    assert get_retriever(settings) is created[0]
    assert get_retriever(RetrievalSettings(index_dir=tmp_path / "other")) is not created[0]
    reset_retrievers()
    assert retriever_module._retrievers == {}


def test_retrievers_sharing_an_index_resync_for_their_own_docs(tmp_path, corpus):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text("Chest pain reports escalate to a nurse.", "utf-8")
    from tools.retrieval.store import Index

    index = Index(tmp_path / "index", HashingEmbeddings(), "test")
    with_docs = Retriever(RetrievalSettings(index_dir=tmp_path / "index", docs_dir=docs, web=False),
                          embeddings=HashingEmbeddings(), corpus_dir=corpus, index=index)  # fmt: skip
    without = Retriever(RetrievalSettings(index_dir=tmp_path / "index", web=False),
                        embeddings=HashingEmbeddings(), corpus_dir=corpus, index=index)  # fmt: skip
    assert with_docs.search("chest pain nurse", k=1).passages[0].origin == "docs"
    assert all(p.origin == "corpus" for p in without.search("chest pain nurse").passages)
    assert with_docs.search("chest pain nurse", k=1).passages[0].origin == "docs"


def test_searches_during_a_refresh_see_a_consistent_index(make, corpus):
    retriever = make()
    retriever.refresh(progress=False)
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher():
        while not stop.is_set():
            try:
                result = retriever.search("human oversight data governance", k=3)
                assert result.passages and all(p.source_id for p in result.passages)
            except BaseException as exc:  # collected and re-raised in the main thread
                errors.append(exc)
                return

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(5):
        (corpus / f"extra{i}.md").write_text(NOTES["gdpr"].replace("id: gdpr", f"id: extra-{i}"), "utf-8")
        retriever.refresh(progress=False)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert retriever.index.size == 8
