"""Text extraction from the user's documents: ``.md``, ``.txt``, ``.pdf`` and ``.html``.

Each loader returns the document's pages (a PDF's real pages; one page for the
other formats) so that chunks can cite ``file p. N``. A file that cannot be read
raises `UnreadableFileError` with a reason; the indexer turns it into a warning
naming the file and goes on with the rest.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

# pypdf logs every structural oddity of a broken file to stderr; the indexer reports
# an unusable file once, as a warning naming it, so only pypdf's errors get through.
logging.getLogger("pypdf").setLevel(logging.ERROR)

#: File types the docs folder may hold; anything else is ignored.
SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".pdf", ".html", ".htm"})


class UnreadableFileError(Exception):
    """A document that cannot be read or has no extractable text."""


@dataclass
class LoadedDocument:
    """A document's title and its pages as ``(page number from 1, text)``."""

    title: str
    pages: list[tuple[int, str]]


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableFileError("binary content (NUL bytes), not a text file")
    # UTF-8 first; GB18030 (a superset of GBK/GB2312) is what Chinese Windows tools still write.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFileError("not UTF-8 or GB18030 text")


def _first_heading(text: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


def load_text(path: Path) -> LoadedDocument:
    """A Markdown or plain-text file as one page; the title is its first ``#`` heading or file name."""
    text = _decode(path.read_bytes())
    return LoadedDocument(title=_first_heading(text) or path.name, pages=[(1, text)])


def load_pdf(path: Path) -> LoadedDocument:
    """A PDF's text, page by page, via pypdf.

    Raises:
        UnreadableFileError: for a corrupt or encrypted PDF, or one with no text layer (a scan).
    """
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise UnreadableFileError("encrypted PDF")
        pages = [(i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)]
        info_title = reader.metadata.title if reader.metadata else None
    except UnreadableFileError:
        raise
    except Exception as exc:
        # Broad on purpose: pypdf reports broken structure in untrusted files through a
        # spread of exception types (PdfReadError, KeyError, ValueError, RecursionError...).
        raise UnreadableFileError(f"corrupt PDF ({type(exc).__name__}: {exc})") from exc
    if not any(text.strip() for _, text in pages):
        raise UnreadableFileError("no extractable text (a scanned PDF needs OCR first)")
    return LoadedDocument(title=str(info_title).strip() if info_title else path.name, pages=pages)


class _TextExtractor(HTMLParser):
    """Visible text of an HTML page: no scripts or styles, block elements on their own lines."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer",
         "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "dt", "dd", "hr", "main", "nav"}
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """The (title, visible text) of an HTML document, whitespace tidied."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\s*\n\s*(\n\s*)+", "\n\n", text)
    return " ".join("".join(parser.title_parts).split()), text.strip()


def load_html(path: Path) -> LoadedDocument:
    """An HTML file's visible text as one page; the title is its ``<title>`` or file name."""
    title, text = html_to_text(_decode(path.read_bytes()))
    return LoadedDocument(title=title or path.name, pages=[(1, text)])


def load_document(path: Path) -> LoadedDocument:
    """Load any supported file.

    Raises:
        UnreadableFileError: with the reason, for any file that cannot be used.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            doc = load_pdf(path)
        elif suffix in (".html", ".htm"):
            doc = load_html(path)
        elif suffix in SUPPORTED_SUFFIXES:
            doc = load_text(path)
        else:
            raise UnreadableFileError(f"unsupported file type {suffix!r}")
    except OSError as exc:
        raise UnreadableFileError(f"cannot read ({exc.strerror or exc})") from exc
    if not any(text.strip() for _, text in doc.pages):
        raise UnreadableFileError("no text")
    return doc
