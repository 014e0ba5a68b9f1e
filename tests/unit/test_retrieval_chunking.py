"""Loading and chunking user documents: sizes, overlap, page locators, stable ids, bad files."""

from __future__ import annotations

import itertools
import random

import pytest

from tools.retrieval.chunking import CHUNK_OVERLAP, CHUNK_SIZE, chunk_document, split_text
from tools.retrieval.loaders import LoadedDocument, UnreadableFileError, html_to_text, load_document

WORDS = [
    "risk",
    "provider",
    "shall",
    "ensure",
    "oversight",
    "data",
    "logging",
    "accuracy",
    "robustness",
    "deployer",
    "record",
]


def _sentences(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))).capitalize() + "." for _ in range(n)
    )


def _shared(a: str, b: str) -> int:
    """Length of the longest suffix of `a` that is a prefix of `b`."""
    return max((n for n in range(1, min(len(a), len(b)) + 1) if a.endswith(b[:n])), default=0)


def test_chunks_respect_size_and_overlap_by_about_a_sentence():
    chunks = split_text(_sentences(80))
    assert len(chunks) > 3
    assert all(len(c) <= CHUNK_SIZE for c in chunks)
    for a, b in itertools.pairwise(chunks):
        assert 0 < _shared(a, b) <= CHUNK_OVERLAP


def test_text_without_separators_overlaps_exactly():
    text = "".join(chr(0x4E00 + i % 500) for i in range(2000))  # Chinese, no punctuation
    chunks = split_text(text)
    assert [len(c) for c in chunks[:-1]] == [CHUNK_SIZE] * (len(chunks) - 1)
    for a, b in itertools.pairwise(chunks):
        assert a[-CHUNK_OVERLAP:] == b[:CHUNK_OVERLAP]


def test_short_text_is_one_chunk_and_blank_text_none():
    assert split_text("One short paragraph.") == ["One short paragraph."]
    assert split_text("  \n\n ") == []


def test_overlap_must_be_smaller_than_size():
    with pytest.raises(ValueError, match="overlap"):
        split_text("x", size=100, overlap=100)


def test_pdf_chunks_cite_their_page_and_ids_are_stable():
    doc = LoadedDocument(title="Policy", pages=[(1, _sentences(5, 1)), (2, _sentences(30, 2)), (3, "")])
    chunks = chunk_document(doc, "sub/policy.pdf")
    ids = [c.passage.source_id for c in chunks]
    assert ids[0] == "docs:sub/policy.pdf#p1-c1"
    assert ids[1:3] == ["docs:sub/policy.pdf#p2-c1", "docs:sub/policy.pdf#p2-c2"]
    assert all(not i.startswith("docs:sub/policy.pdf#p3") for i in ids)  # a blank page has no chunks
    assert chunks[1].passage.locator == "sub/policy.pdf p. 2"
    assert all(c.passage.origin == "docs" and c.passage.title == "Policy" for c in chunks)
    assert chunks[0].search_text.startswith("Policy\n")
    assert [c.passage.source_id for c in chunk_document(doc, "sub/policy.pdf")] == ids


def test_single_page_files_use_the_path_as_locator():
    chunks = chunk_document(LoadedDocument(title="n", pages=[(1, "Some text.")]), "notes.md")
    assert chunks[0].passage.source_id == "docs:notes.md#p1-c1"
    assert chunks[0].passage.locator == "notes.md"


def test_loaders_read_markdown_title_gb18030_text_and_html(tmp_path):
    (tmp_path / "a.md").write_text("Intro\n# Triage policy\nBody", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes("人工智能合规标准".encode("gb18030"))
    (tmp_path / "c.html").write_text(
        "<html><head><title>AI &amp; Law</title><style>p{}</style></head>"
        "<body><script>var x=1;</script><h1>Heading</h1><p>First&nbsp;para.</p><p>Second</p></body></html>",
        encoding="utf-8",
    )
    assert load_document(tmp_path / "a.md").title == "Triage policy"
    assert load_document(tmp_path / "b.txt").pages == [(1, "人工智能合规标准")]
    html = load_document(tmp_path / "c.html")
    assert html.title == "AI & Law"
    text = html.pages[0][1]
    assert "Heading" in text and "First\xa0para." in text and "Second" in text
    assert "var x" not in text and "p{}" not in text


def test_html_blocks_become_separate_lines():
    _, text = html_to_text("<ul><li>one</li><li>two</li></ul>")
    assert text.split() == ["one", "two"] and "\n" in text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf body", "corrupt PDF"),
        ("blob.txt", b"\x00\x01\x02binary", "binary"),
        ("empty.md", b"   \n", "no text"),
        ("latin1.txt", bytes([0xFF, 0xFE, 0xFD, 0x81, 0x30]) * 3, "not UTF-8"),
    ],
)
def test_unusable_files_raise_with_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnreadableFileError, match=reason):
        load_document(path)


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableFileError, match="cannot read"):
        load_document(tmp_path / "gone.md")
