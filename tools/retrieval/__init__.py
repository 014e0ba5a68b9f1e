"""Retrieval: the bundled compliance corpus, the user's documents and web search, behind one API.

Importing this package is cheap: torch and chromadb load on the first search.
"""

from tools.retrieval.errors import DocsDirNotFoundError, EmptyQueryError
from tools.retrieval.format import format_passages
from tools.retrieval.retriever import Retriever, get_retriever, reset_retrievers
from tools.retrieval.settings import RetrievalSettings
from tools.retrieval.tool import search_documents
from tools.retrieval.types import Passage, SearchResult

__all__ = [
    "DocsDirNotFoundError",
    "EmptyQueryError",
    "Passage",
    "RetrievalSettings",
    "Retriever",
    "SearchResult",
    "format_passages",
    "get_retriever",
    "reset_retrievers",
    "search_documents",
]
