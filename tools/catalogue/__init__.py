"""The obligation catalogue: requirements per instrument and article, chosen by a task's facts.

Data files live beside the corpus notes (``tools/corpus/obligations/*.toml``);
every obligation names the corpus passage it rests on, so each requirement in
a standard is traceable: catalogue entry -> passage -> article.
"""

from tools.catalogue.schema import (
    SECTIONS,
    TOPICS,
    Catalogue,
    CatalogueError,
    Instrument,
    Obligation,
    corpus_passages,
    load_catalogue,
    load_catalogue_dir,
)
from tools.catalogue.select import applies, reasons_for, select_obligations
from tools.catalogue.vocabulary import FACT_KEYS, FACT_SCHEMA, all_tags, tags_for

__all__ = [
    "FACT_KEYS",
    "FACT_SCHEMA",
    "SECTIONS",
    "TOPICS",
    "Catalogue",
    "CatalogueError",
    "Instrument",
    "Obligation",
    "all_tags",
    "applies",
    "corpus_passages",
    "load_catalogue",
    "load_catalogue_dir",
    "reasons_for",
    "select_obligations",
    "tags_for",
]
