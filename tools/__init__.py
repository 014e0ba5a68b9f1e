"""Tools the agents call: the retrieval tool (`search_documents`) and its Python API.

Light to import: the embedding model (torch) and the vector store (chromadb)
load on the first search, not here.
"""

from tools.retrieval import (
    DocsDirNotFoundError,
    Passage,
    RetrievalSettings,
    Retriever,
    SearchResult,
    format_passages,
    get_retriever,
    search_documents,
)

__all__ = [
    "DocsDirNotFoundError",
    "Passage",
    "RetrievalSettings",
    "Retriever",
    "SearchResult",
    "format_passages",
    "get_retriever",
    "search_documents",
]
