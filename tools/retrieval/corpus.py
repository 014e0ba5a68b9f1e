"""The bundled compliance corpus: parsing the team's notes into citable passages.

A note is one Markdown file per instrument under ``tools/corpus/``::

    ---
    id: eu-ai-act
    title: EU Artificial Intelligence Act (Regulation (EU) 2024/1689)
    title_zh: 欧盟《人工智能法》
    url: https://eur-lex.europa.eu/eli/reg/2024/1689/oj
    ---

    ## art-5 | Art. 5 | Prohibited AI practices | 禁止的人工智能实践
    Key terms: prohibited practices, 禁止的做法; social scoring, 社会评分
    English body...
    摘要：Chinese summary.

Each ``##`` section is one passage, ``<id>:<slug>`` (``eu-ai-act:art-5``): a
section is the unit a lawyer cites, so it is never split further.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tools.retrieval.types import IndexedChunk, Passage

#: The notes shipped inside the package.
CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KEY_TERMS = re.compile(r"^\s*(?:\*\*)?key terms(?:\*\*)?\s*[:：]\s*(.+)$", re.IGNORECASE | re.MULTILINE)


class NoteFormatError(ValueError):
    """A corpus note that does not follow the note format."""


@dataclass
class Note:
    """One parsed note: its front matter and its sections as indexable chunks."""

    id: str
    title: str
    title_zh: str
    url: str | None
    chunks: list[IndexedChunk] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _front_matter(text: str, name: str) -> tuple[dict[str, str], str]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise NoteFormatError(f"{name}: no front matter (the note must start with a '---' line)")
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            break
    else:
        raise NoteFormatError(f"{name}: front matter is not closed by a '---' line")
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, "\n".join(lines[end + 1 :])


def parse_note(text: str, name: str = "<note>") -> Note:
    """Parse one note into passages.

    Args:
        text: The note's Markdown.
        name: File name, for messages.

    Returns:
        The note; sections that cannot be used (bad heading, duplicate slug,
        empty body) are left out with a warning in `Note.warnings`.

    Raises:
        NoteFormatError: when the front matter is missing or lacks ``id`` or ``title``.
    """
    meta, body = _front_matter(text.lstrip("\ufeff"), name)
    note_id, title = meta.get("id", ""), meta.get("title", "")
    if not _SLUG.match(note_id) or not title:
        raise NoteFormatError(f"{name}: front matter needs an 'id' (lowercase slug) and a 'title'")
    note = Note(id=note_id, title=title, title_zh=meta.get("title_zh", ""), url=meta.get("url") or None)

    # Split on level-2 headings only; deeper headings stay inside their section's text.
    parts = re.split(r"^##(?!#)[ \t]*(.*)$", body, flags=re.MULTILINE)
    seen: set[str] = set()
    for heading, section in zip(parts[1::2], parts[2::2], strict=True):
        fields = [f.strip() for f in heading.split("|")]
        slug = fields[0].lower()
        if len(fields) < 3 or not _SLUG.match(slug):
            note.warnings.append(f"{name}: skipped section with a bad heading: {heading.strip()!r}")
            continue
        if slug in seen:
            note.warnings.append(f"{name}: skipped duplicate section {slug!r}")
            continue
        content = section.strip()
        if not content:
            note.warnings.append(f"{name}: skipped empty section {slug!r}")
            continue
        seen.add(slug)
        locator, title_en = fields[1], fields[2]
        title_zh = fields[3] if len(fields) > 3 else ""
        passage = Passage(
            source_id=f"{note_id}:{slug}",
            title=f"{title} — {title_en}" if title_en else title,
            locator=locator,
            text=content,
            origin="corpus",
            url=note.url,
        )
        # The rankers also see the headings in both languages: a query often names
        # the instrument or the topic, which the body does not repeat.
        search_text = "\n".join(x for x in (title, note.title_zh, locator, title_en, title_zh, content) if x)
        note.chunks.append(IndexedChunk(passage=passage, search_text=search_text))
    if not note.chunks:
        note.warnings.append(f"{name}: no '## slug | locator | title | 标题' sections found")
    return note


def parse_note_file(path: Path) -> Note:
    """Read and parse one note file (UTF-8).

    Raises:
        NoteFormatError: for a note that does not follow the format.
        OSError, UnicodeDecodeError: for a file that cannot be read.
    """
    return parse_note(path.read_text(encoding="utf-8"), path.name)


def glossary_pairs(text: str) -> list[tuple[str, str]]:
    """The (English, Chinese) term pairs from a passage's ``Key terms:`` line.

    The line reads ``Key terms: prohibited practices, 禁止的做法; social scoring, 社会评分``:
    pairs split on semicolons, and in each pair the CJK part is the Chinese term.

    Args:
        text: A passage's text.

    Returns:
        Pairs in order; a pair without both an English and a Chinese part is dropped.
    """
    pairs: list[tuple[str, str]] = []
    for line in _KEY_TERMS.findall(text):
        for item in re.split(r"[;；]", line):
            parts = [p.strip(" .。") for p in re.split(r"[,，、/]", item) if p.strip(" .。")]
            zh = [p for p in parts if _CJK.search(p)]
            en = [p for p in parts if not _CJK.search(p)]
            if zh and en:
                pairs.extend((en_term, zh_term) for en_term in en for zh_term in zh)
    return pairs
