"""The files an index is built from: the bundled corpus notes and the user's docs folder.

Every file has a key (``corpus:<name>`` or ``docs:<relative path>``) and a
content hash; the index manifest compares them to decide what to re-embed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tools.retrieval.chunking import chunk_document
from tools.retrieval.corpus import parse_note_file
from tools.retrieval.errors import DocsDirNotFoundError
from tools.retrieval.loaders import SUPPORTED_SUFFIXES, UnreadableFileError, load_document
from tools.retrieval.types import IndexedChunk


@dataclass(frozen=True)
class SourceFile:
    """One file to index.

    Attributes:
        key: ``corpus:<file name>`` or ``docs:<path relative to the docs folder>`` (``/`` separators).
        path: Where it is on disk.
        origin: ``corpus`` or ``docs``.
        size: Bytes, with `mtime_ns` a cheap "maybe unchanged" check before hashing.
        mtime_ns: Modification time.
    """

    key: str
    path: Path
    origin: str
    size: int
    mtime_ns: int

    @property
    def rel_path(self) -> str:
        """The path part of the key."""
        return self.key.partition(":")[2]


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _source(key: str, path: Path, origin: str) -> SourceFile:
    stat = path.stat()
    return SourceFile(key=key, path=path, origin=origin, size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def _undecodable(name: str) -> bool:
    """Whether a file name from the OS holds bytes that are not UTF-8 (as lone surrogates).

    Such a name cannot become a passage id: the manifest, the vector store and the
    checkpointed state all need valid text.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def shown_name(name: str) -> str:
    r"""A file name fit for a message: bytes that are not UTF-8 as ``\xNN`` escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def format_size(size: int) -> str:
    """Bytes for a message: ``5.0 MB``, ``640 KB``, ``12 bytes`` (1 MB = 1024 KB)."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.0f} KB"
    return f"{size} bytes"


def list_sources(
    corpus_dir: Path | None, docs_dir: Path | None, *, max_doc_bytes: int | None = None
) -> tuple[list[SourceFile], list[str]]:
    """All files to index, in a stable order, plus warnings for the files left out.

    Hidden files and folders (``.git``, ``.DS_Store``) and unsupported types are ignored.
    A document whose name is not valid UTF-8, that cannot be read, or that is larger
    than `max_doc_bytes` is left out with a warning naming it; the rest are indexed.

    Args:
        corpus_dir: Folder of corpus notes (``*.md``), or None for none.
        docs_dir: The user's documents folder, or None.
        max_doc_bytes: Largest document file indexed from `docs_dir`; None for no limit.
            The bundled corpus is not limited.

    Raises:
        DocsDirNotFoundError: when `docs_dir` is given but is not a folder.
    """
    files: list[SourceFile] = []
    warnings: list[str] = []
    if corpus_dir is not None and corpus_dir.is_dir():
        for path in sorted(corpus_dir.glob("*.md")):
            if not path.name.startswith((".", "_")) and path.name.lower() != "readme.md":
                files.append(_source(f"corpus:{path.name}", path, "corpus"))
    if docs_dir is not None:
        if not docs_dir.is_dir():
            raise DocsDirNotFoundError(docs_dir)
        for root, dirs, names in os.walk(
            docs_dir, onerror=lambda exc: warnings.append(f"skipped {shown_name(str(exc))}")
        ):
            kept_dirs = []
            for d in sorted(d for d in dirs if not d.startswith(".")):
                if _undecodable(d):
                    rel = (Path(root) / d).relative_to(docs_dir).as_posix()
                    warnings.append(
                        f"skipped folder {shown_name(rel)}: its name is not valid UTF-8 (rename it)"
                    )
                else:
                    kept_dirs.append(d)
            dirs[:] = kept_dirs
            for name in sorted(names):
                path = Path(root) / name
                if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                rel = path.relative_to(docs_dir).as_posix()
                if _undecodable(name):
                    warnings.append(f"skipped {shown_name(rel)}: its name is not valid UTF-8 (rename it)")
                    continue
                try:
                    source = _source(f"docs:{rel}", path, "docs")
                except OSError as exc:
                    warnings.append(f"skipped {rel}: cannot read ({exc.strerror or exc})")
                    continue
                if max_doc_bytes is not None and source.size > max_doc_bytes:
                    warnings.append(
                        f"skipped {rel}: {format_size(source.size)} is over the {format_size(max_doc_bytes)} "
                        "limit for documents (raise COUNCIL_MAX_DOC_BYTES to index it)"
                    )
                    continue
                files.append(source)
    return files, warnings


def load_chunks(source: SourceFile) -> tuple[list[IndexedChunk], list[str]]:
    """Parse or load one file into chunks.

    Returns:
        The chunks and any warnings (sections left out of a note).

    Raises:
        UnreadableFileError: for a file that cannot be used at all; the message names the reason.
    """
    if source.origin == "corpus":
        try:
            note = parse_note_file(source.path)
        except (OSError, ValueError) as exc:  # NoteFormatError and UnicodeDecodeError are ValueErrors
            raise UnreadableFileError(str(exc)) from exc
        return note.chunks, note.warnings
    return chunk_document(load_document(source.path), source.rel_path), []
