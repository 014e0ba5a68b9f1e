"""The user's documents folder under hostile input: undecodable file names, oversized files.

One bad file is skipped with a warning naming it; the rest of the folder is indexed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tools.retrieval.retriever import Retriever
from tools.retrieval.settings import DEFAULT_MAX_DOC_BYTES, RetrievalSettings, parse_size
from tools.retrieval.sources import format_size, list_sources
from tools.retrieval.testing import HashingEmbeddings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("COUNCIL_MAX_DOC_BYTES", raising=False)


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nTriage chatbots escalate chest pain to a nurse.", "utf-8")
    return docs


def _write_undecodable(folder: Path, name: bytes, data: bytes) -> None:
    fd = os.open(os.fsencode(folder) + b"/" + name, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _retriever(tmp_path: Path, docs: Path, **settings: Any) -> Retriever:
    return Retriever(
        RetrievalSettings(index_dir=tmp_path / "index", docs_dir=docs, web=False, **settings),
        embeddings=HashingEmbeddings(),
        corpus_dir=None,
    )


# -- 2. file names that are not UTF-8 ------------------------------------------------------------


def test_an_undecodable_file_name_is_skipped_with_a_warning(tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    _write_undecodable(docs, b"\xff.md", b"# Bad name\n\nSome text about logging.")
    (docs / "sub").mkdir()
    _write_undecodable(docs / "sub", b"caf\xe9.txt", b"Latin-1 name.")

    retriever = _retriever(tmp_path, docs)
    report = retriever.refresh(progress=False)
    assert report.warnings == [
        "skipped \\xff.md: its name is not valid UTF-8 (rename it)",
        "skipped sub/caf\\xe9.txt: its name is not valid UTF-8 (rename it)",
    ]
    assert report.indexed == 1
    assert {c.passage.source_id.split("#")[0] for c in retriever.index.chunks()} == {"docs:good.md"}
    # Searches work and carry the warning; every warning is valid text (it goes into the state).
    result = retriever.search("chest pain triage")
    assert result.passages and result.passages[0].source_id.startswith("docs:good.md")
    assert "skipped \\xff.md: its name is not valid UTF-8 (rename it)" in result.warnings
    for warning in result.warnings:
        warning.encode("utf-8")


def test_an_undecodable_folder_name_is_skipped_once(tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    os.mkdir(os.fsencode(docs) + b"/\xfe-dir")
    _write_undecodable(docs / os.fsdecode(b"\xfe-dir"), b"inner.md", b"# Inner\n\ntext")
    files, warnings = list_sources(None, docs)
    assert [f.key for f in files] == ["docs:good.md"]
    assert warnings == ["skipped folder \\xfe-dir: its name is not valid UTF-8 (rename it)"]


# -- 3. the size limit of one document ----------------------------------------------------------


def test_a_document_over_the_limit_is_skipped_with_its_size_and_the_limit(tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    (docs / "huge.md").write_bytes(b"# Huge\n\n" + b"lorem ipsum dolor " * (5 * 1024 * 1024 // 18))
    retriever = _retriever(tmp_path, docs)
    report = retriever.refresh(progress=False)
    assert report.warnings == [
        "skipped huge.md: 5.0 MB is over the 2.0 MB limit for documents "
        "(raise COUNCIL_MAX_DOC_BYTES to index it)"
    ]
    assert report.indexed == 1 and report.chunks_embedded < 10


def test_the_limit_comes_from_the_environment_and_removes_what_is_now_too_big(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _docs(tmp_path)
    (docs / "mid.txt").write_text("Human oversight. " * 200, "utf-8")  # 3,400 bytes
    retriever = _retriever(tmp_path, docs)
    retriever.refresh(progress=False)
    assert any(c.passage.source_id.startswith("docs:mid.txt") for c in retriever.index.chunks())

    monkeypatch.setenv("COUNCIL_MAX_DOC_BYTES", "2K")
    settings = RetrievalSettings.from_env()
    assert settings.max_doc_bytes == 2048
    smaller = _retriever(tmp_path, docs, max_doc_bytes=settings.max_doc_bytes)
    report = smaller.refresh(progress=False)
    assert report.warnings == [
        "skipped mid.txt: 3 KB is over the 2 KB limit for documents (raise COUNCIL_MAX_DOC_BYTES to index it)"
    ]
    assert not any(c.passage.source_id.startswith("docs:mid.txt") for c in smaller.index.chunks())


def test_the_bundled_corpus_is_not_limited(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text("x" * 100, "utf-8")
    files, warnings = list_sources(corpus, None, max_doc_bytes=10)
    assert [f.key for f in files] == ["corpus:note.md"] and warnings == []


def test_settings_default_and_context_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert RetrievalSettings(index_dir=tmp_path).max_doc_bytes == DEFAULT_MAX_DOC_BYTES == 2 * 1024 * 1024
    monkeypatch.setenv("COUNCIL_MAX_DOC_BYTES", "1000")

    class Ctx:  # the graph's Context has no such field: the environment decides
        index_dir = str(tmp_path)

    assert RetrievalSettings.from_context(Ctx()).max_doc_bytes == 1000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2097152", 2097152),
        (" 2M ", 2097152),
        ("500 KB", 512000),
        ("1g", 1 << 30),
        ("1.5M", 1572864),
        (42, 42),
    ],
)
def test_sizes_parse(raw: object, expected: int) -> None:
    assert parse_size(raw, "x") == expected


@pytest.mark.parametrize("raw", ["0", "-1", "lots", "2 parsecs", "", True, 0])
def test_bad_sizes_raise_one_line_naming_the_setting(raw: object, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(raw, "$COUNCIL_MAX_DOC_BYTES")
    assert str(info.value).startswith("invalid value for $COUNCIL_MAX_DOC_BYTES: ")
    assert "\n" not in str(info.value)
    if isinstance(raw, str) and raw:
        monkeypatch.setenv("COUNCIL_MAX_DOC_BYTES", raw)
        with pytest.raises(ValueError, match=r"invalid value for \$COUNCIL_MAX_DOC_BYTES"):
            RetrievalSettings.from_env()


def test_format_size() -> None:
    assert [format_size(n) for n in (12, 3400, 5 << 20, 2 << 20)] == ["12 bytes", "3 KB", "5.0 MB", "2.0 MB"]
