"""Corpus notes: parsing into citable passages, the glossary, and the bundled notes themselves."""

from __future__ import annotations

import pytest

from tools.retrieval.corpus import CORPUS_DIR, NoteFormatError, glossary_pairs, parse_note, parse_note_file

NOTE = """---
id: eu-ai-act
title: EU Artificial Intelligence Act (Regulation (EU) 2024/1689)
title_zh: 欧盟《人工智能法》
url: https://eur-lex.europa.eu/eli/reg/2024/1689/oj
---

Intro text that belongs to no section.

## art-5 | Art. 5 | Prohibited AI practices | 禁止的人工智能实践
Key terms: prohibited practices, 禁止的做法; social scoring, 社会评分
Article 5 bans social scoring.
### A sub-heading stays inside the section
More text.
摘要：第5条禁止社会评分。

## art-14 | Art. 14 | Human oversight
Key terms: human oversight, 人类监督
Natural persons oversee high-risk systems.

## art-14 | Art. 14 | Duplicate | 重复
Dropped.

## Not a valid heading
Dropped too.

## art-50 | Art. 50 | Transparency | 透明度
"""


def test_sections_become_passages_with_ids_titles_locators_and_url():
    note = parse_note(NOTE, "eu-ai-act.md")
    ids = [c.passage.source_id for c in note.chunks]
    assert ids == ["eu-ai-act:art-5", "eu-ai-act:art-14"]
    art5 = note.chunks[0].passage
    assert (
        art5.title == "EU Artificial Intelligence Act (Regulation (EU) 2024/1689) — Prohibited AI practices"
    )
    assert art5.locator == "Art. 5"
    assert art5.origin == "corpus"
    assert art5.url == "https://eur-lex.europa.eu/eli/reg/2024/1689/oj"
    assert "### A sub-heading stays inside the section" in art5.text
    assert art5.text.endswith("摘要：第5条禁止社会评分。")
    assert "Intro text" not in art5.text


def test_search_text_carries_both_languages_headings():
    chunk = parse_note(NOTE, "eu-ai-act.md").chunks[0]
    for expected in (
        "欧盟《人工智能法》",
        "禁止的人工智能实践",
        "Prohibited AI practices",
        "Art. 5",
        "Article 5 bans",
    ):
        assert expected in chunk.search_text


def test_bad_sections_are_skipped_with_warnings_naming_the_file():
    warnings = parse_note(NOTE, "eu-ai-act.md").warnings
    assert any("duplicate section 'art-14'" in w for w in warnings)
    assert any("bad heading" in w and "Not a valid heading" in w for w in warnings)
    assert any("empty section 'art-50'" in w for w in warnings)
    assert all(w.startswith("eu-ai-act.md:") for w in warnings)


@pytest.mark.parametrize(
    "text",
    [
        "no front matter\n## a | b | c\nx",
        "---\nid: x1\n## a | b | c\n",
        "---\ntitle: T\n---\n",
        "---\nid: Bad Id\ntitle: T\n---\n",
    ],
)
def test_broken_front_matter_is_a_format_error(text):
    with pytest.raises(NoteFormatError):
        parse_note(text, "bad.md")


def test_glossary_pairs_from_key_terms():
    text = (
        "Key terms: human oversight, 人类监督; stop button, 停止按钮; "
        "AI literacy, 人工智能素养, AI素养; lonely\nBody."
    )
    assert glossary_pairs(text) == [
        ("human oversight", "人类监督"),
        ("stop button", "停止按钮"),
        ("AI literacy", "人工智能素养"),
        ("AI literacy", "AI素养"),
    ]


def test_bundled_corpus_notes_parse_cleanly_with_unique_ids():
    paths = sorted(CORPUS_DIR.glob("*.md"))
    if not paths:
        pytest.skip("the bundled corpus is not written yet")
    seen: dict[str, str] = {}
    for path in paths:
        note = parse_note_file(path)
        assert not note.warnings, note.warnings
        assert note.url and note.url.startswith(("https://", "http://")), path.name
        assert note.title_zh, path.name
        for chunk in note.chunks:
            sid = chunk.passage.source_id
            assert sid not in seen, f"{sid} in {path.name} and {seen.get(sid)}"
            seen[sid] = path.name
            assert glossary_pairs(chunk.passage.text), f"{sid} has no bilingual key terms"
            assert "摘要" in chunk.passage.text, f"{sid} has no Chinese summary"
