"""Splitting user documents into overlapping chunks with stable ids.

Sizes, and why:
    ``CHUNK_SIZE = 800`` characters: all-MiniLM-L6-v2 reads at most 256 word
    pieces, about 1,000 characters of English, so an 800-character chunk is
    embedded whole (nothing silently cut off), and is still short enough that
    three of them fit a small model's context next to the task.
    ``CHUNK_OVERLAP = 120`` characters (15%): about one sentence, so a
    sentence cut at a chunk boundary appears whole in one of the two chunks.

Chunks never cross a PDF page: a citation names one page. Ids are
``docs:<relative path>#p<page>-c<n>`` (n from 1 within the page), a pure
function of the file's text, so they are the same on every run.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from tools.retrieval.types import IndexedChunk, Passage

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from tools.retrieval.loaders import LoadedDocument

CHUNK_SIZE = 800
CHUNK_OVERLAP = 120
#: Paragraphs, then lines, then sentences (English and Chinese), then words, then characters.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "; ", "；", " ", ""]


@lru_cache(maxsize=8)
def _splitter(size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, separators=SEPARATORS, keep_separator="end"
    )


def split_text(text: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Split text into chunks of at most `size` characters, neighbours sharing up to `overlap`.

    Args:
        text: Any text.
        size: Most characters per chunk.
        overlap: Most characters shared by consecutive chunks (whole sentences or words where possible).

    Returns:
        Non-empty, stripped chunks in document order.
    """
    if overlap >= size:
        raise ValueError(f"overlap ({overlap}) must be smaller than size ({size})")
    return [c.strip() for c in _splitter(size, overlap).split_text(text) if c.strip()]


def chunk_document(
    doc: LoadedDocument, rel_path: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP
) -> list[IndexedChunk]:
    """The indexable chunks of one loaded user document.

    Args:
        doc: The document's title and pages.
        rel_path: Path relative to the docs folder, with ``/`` separators; part of every id.
        size: Most characters per chunk.
        overlap: Characters shared by neighbouring chunks.

    Returns:
        Chunks with ids ``docs:<rel_path>#p<page>-c<n>`` and locators ``<rel_path> p. <page>``.
    """
    paged = len(doc.pages) > 1 or rel_path.lower().endswith(".pdf")
    chunks: list[IndexedChunk] = []
    for page, text in doc.pages:
        for n, piece in enumerate(split_text(text, size, overlap), start=1):
            locator = f"{rel_path} p. {page}" if paged else rel_path
            passage = Passage(
                source_id=f"docs:{rel_path}#p{page}-c{n}",
                title=doc.title,
                locator=locator,
                text=piece,
                origin="docs",
            )
            # The title rides along in the ranked text: it often names the topic the chunk omits.
            chunks.append(IndexedChunk(passage=passage, search_text=f"{doc.title}\n{piece}"))
    return chunks
