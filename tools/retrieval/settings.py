"""Retrieval settings: where the index lives, which documents to add, how many passages, web on/off.

Settings come from the graph's runtime `Context` (`RetrievalSettings.from_context`)
or from environment variables (`RetrievalSettings.from_env`), never from module
globals, so two graphs in one process can search different indexes. Defaults are
the settings registry's (`tools.settings_registry`, listed in ``docs/settings.md``).

Environment variables:
    ``COUNCIL_INDEX_DIR``: index folder (default: the user data dir, e.g.
        ``~/.local/share/compliance-council/index``).
    ``COUNCIL_DOCS_DIR``: a folder of your own ``.md``/``.txt``/``.pdf``/``.html`` files.
    ``COUNCIL_RETRIEVAL_K``: passages per search.
    ``COUNCIL_WEB_SEARCH``: ``on``/``off`` (used only when ``TAVILY_API_KEY`` is set).
    ``COUNCIL_WEB_TIMEOUT``: seconds before a web search is abandoned.
    ``COUNCIL_CHROMA_URL``: ``http://host:port`` of a Chroma server to hold the vectors
        instead of the embedded store (the manifest stays in the index folder).
    ``COUNCIL_MAX_DOC_BYTES``: largest file of the documents folder that is indexed, in
        bytes, or with a unit (``500K``, ``2M``, ``1G``; powers of 1024); larger files
        are skipped with a warning.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from tools.settings_registry import BY_NAME, parse_bool, parse_size

__all__ = ["RetrievalSettings", "doc_collections", "docs_folder", "parse_bool", "parse_size"]

T = TypeVar("T")

INDEX_DIR_ENV = "COUNCIL_INDEX_DIR"
DOCS_DIR_ENV = "COUNCIL_DOCS_DIR"
K_ENV = "COUNCIL_RETRIEVAL_K"
WEB_ENV = "COUNCIL_WEB_SEARCH"
#: Named document folders, ``policies=/srv/policies,hr=/srv/hr``: a ``docs_dir`` may be a name.
COLLECTIONS_ENV = BY_NAME["doc_collections"].env

#: Default size limit of one user document (2 MiB). Indexing time grows with size: a
#: 5 MB Markdown file took about five minutes to embed on a CPU.
DEFAULT_MAX_DOC_BYTES: int = BY_NAME["max_doc_bytes"].default

#: Upper bound on passages per search (the graph's Context allows the same range).
MAX_K = 50
#: Passages per search unless set: the registry's one default, shared with the graph's `Context`.
DEFAULT_K: int = BY_NAME["retrieval_k"].default


def default_index_dir() -> Path:
    """The per-user index folder, e.g. ``~/.local/share/compliance-council/index`` on Linux."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("compliance-council")) / "index"


def doc_collections(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The operator's named document folders (``$COUNCIL_DOC_COLLECTIONS``), name -> path.

    Raises:
        ValueError: An entry that is not ``name=path``.
    """
    out: dict[str, str] = {}
    for entry in (e.strip() for e in BY_NAME["doc_collections"].from_env(environ).split(",")):
        if not entry:
            continue
        name, sep, path = (part.strip() for part in entry.partition("="))
        if not sep or not name or not path:
            raise ValueError(f"invalid value for ${COLLECTIONS_ENV}: {entry!r} is not 'name=path'")
        out[name] = path
    return out


def docs_folder(value: str, environ: Mapping[str, str] | None = None) -> str:
    """The folder a ``docs_dir`` value means: a collection's folder, or the value itself."""
    return doc_collections(environ).get(value.strip(), value) if value else value


def _parse_int(raw: Any, name: str) -> int:
    if isinstance(raw, bool):  # bool is an int subclass; True is not a passage count
        raise ValueError(f"invalid value for {name}: {raw!r} (expected an integer 1-{MAX_K})")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError(f"invalid value for {name}: {raw!r} (expected an integer 1-{MAX_K})") from None


def _parse_float(raw: Any, name: str) -> float:
    try:
        return float(str(raw).strip())
    except ValueError:
        expected = BY_NAME["web_timeout_s"].expected
        raise ValueError(f"invalid value for {name}: {raw!r} (expected {expected})") from None


def _env(name: str, cast: Callable[[str, str], T], default: T) -> T:
    raw = os.environ.get(name, "").strip()
    return cast(raw, f"${name}") if raw else default


def _path(raw: Any, name: str) -> Path:
    text = str(raw).strip()
    if not text or "\x00" in text:
        raise ValueError(f"invalid value for {name}: {raw!r} (expected a folder path)")
    return Path(text)


@dataclass(frozen=True)
class RetrievalSettings:
    """Where and how to search. Frozen and hashable: `get_retriever` caches one retriever per value.

    Attributes:
        index_dir: Folder holding the vector store and the manifest of indexed files.
        docs_dir: Optional folder of the user's own documents, indexed next to the bundled corpus.
        k: Passages returned per search, 1-50.
        web: Whether to add Tavily web results (only when ``TAVILY_API_KEY`` is set).
        web_timeout_s: Seconds before a web search is abandoned for local results.
        chroma_url: ``http://host:port`` of a Chroma server; None keeps the vectors
            in an embedded store under ``index_dir``.
        max_doc_bytes: Largest file of ``docs_dir`` that is indexed; larger ones are
            skipped with a warning naming the file, its size and the limit.
    """

    index_dir: Path
    docs_dir: Path | None = None
    k: int = DEFAULT_K
    web: bool = BY_NAME["web_search"].default
    web_timeout_s: float = BY_NAME["web_timeout_s"].default
    chroma_url: str | None = None
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES

    def __post_init__(self) -> None:
        # Normalise paths so that equal settings written differently share one cached retriever.
        object.__setattr__(self, "index_dir", _path(self.index_dir, "index_dir").expanduser().absolute())
        if self.docs_dir is not None:
            object.__setattr__(self, "docs_dir", _path(self.docs_dir, "docs_dir").expanduser().absolute())
        k = _parse_int(self.k, "k")
        if not 1 <= k <= MAX_K:
            raise ValueError(f"invalid value for k: {self.k!r} (expected an integer 1-{MAX_K})")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "web", parse_bool(self.web, "web"))
        timeout = _parse_float(self.web_timeout_s, "web_timeout_s")
        if not 0 < timeout <= 300:
            raise ValueError(f"invalid value for web_timeout_s: {self.web_timeout_s!r} (expected 0-300 s)")
        object.__setattr__(self, "web_timeout_s", timeout)
        if self.chroma_url is not None:
            url = str(self.chroma_url).strip()
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(
                    f"invalid value for chroma_url: {self.chroma_url!r} (expected http://host:port)"
                )
            object.__setattr__(self, "chroma_url", url)
        object.__setattr__(self, "max_doc_bytes", parse_size(self.max_doc_bytes, "max_doc_bytes"))

    @classmethod
    def from_env(cls) -> RetrievalSettings:
        """Settings from the ``COUNCIL_*`` environment variables (see the module docstring).

        Raises:
            ValueError: naming the variable whose value is bad.
        """
        return cls(
            index_dir=_env(INDEX_DIR_ENV, _path, None) or default_index_dir(),
            docs_dir=_env(DOCS_DIR_ENV, _path, None),
            k=_env(K_ENV, _parse_int, DEFAULT_K),
            web=_env(WEB_ENV, parse_bool, BY_NAME["web_search"].default),
            web_timeout_s=BY_NAME["web_timeout_s"].from_env(),
            chroma_url=BY_NAME["chroma_url"].from_env(),
            max_doc_bytes=BY_NAME["max_doc_bytes"].from_env(),
        )

    @classmethod
    def from_context(cls, context: Any) -> RetrievalSettings:
        """Settings from a runtime context object, falling back to the environment.

        Reads the attributes ``index_dir``, ``docs_dir``, ``retrieval_k``,
        ``web_search`` (and ``web_timeout_s``, ``chroma_url``, ``max_doc_bytes``) where the object
        has them (keys, for a mapping); a missing, None or empty one takes the
        `from_env` value.

        Args:
            context: Any object, typically the graph's `Context` dataclass, or a
                mapping (a TypedDict context); None means env only.

        Raises:
            ValueError: naming the attribute (or variable) whose value is bad.
        """
        env = cls.from_env()

        def pick(attr: str, fallback: Any) -> Any:
            value = context.get(attr) if isinstance(context, Mapping) else getattr(context, attr, None)
            if value is None or (isinstance(value, str) and not value.strip()):
                return fallback
            return value

        k = _parse_int(pick("retrieval_k", env.k), "retrieval_k")
        web = parse_bool(pick("web_search", env.web), "web_search")
        index_dir = pick("index_dir", env.index_dir)
        docs_dir = pick("docs_dir", env.docs_dir)
        if isinstance(docs_dir, str):
            docs_dir = docs_folder(docs_dir)  # a collection's name, or a folder
        if not 1 <= k <= MAX_K:
            raise ValueError(f"invalid value for retrieval_k: {k!r} (expected an integer 1-{MAX_K})")
        return cls(
            index_dir=_path(index_dir, "index_dir"),
            docs_dir=None if docs_dir is None else _path(docs_dir, "docs_dir"),
            k=k,
            web=web,
            web_timeout_s=pick("web_timeout_s", env.web_timeout_s),
            chroma_url=pick("chroma_url", env.chroma_url),
            max_doc_bytes=pick("max_doc_bytes", env.max_doc_bytes),
        )
