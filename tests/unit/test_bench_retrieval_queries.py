"""The retrieval benchmark's labelled queries: both splits name real sections and do not overlap."""

from __future__ import annotations

import pytest

from bench.retrieval import HELDOUT_QUERIES, QUERIES, load_queries
from tools.retrieval.corpus import CORPUS_DIR, parse_note_file


def section_ids() -> set[str]:
    return {c.passage.source_id for p in CORPUS_DIR.glob("*.md") for c in parse_note_file(p).chunks}


@pytest.mark.parametrize("path", [QUERIES, HELDOUT_QUERIES], ids=["tune", "heldout"])
def test_every_labelled_section_exists_in_the_corpus(path):
    known = section_ids()
    rows = load_queries(path)
    assert rows
    unknown = {sid for row in rows for sid in row["relevant"]} - known
    assert not unknown, f"{path.name} names sections the corpus lacks: {sorted(unknown)}"


def test_the_heldout_split_shares_no_query_with_the_tune_split():
    tune = {row["query"].strip().lower() for row in load_queries(QUERIES)}
    heldout = [row["query"].strip().lower() for row in load_queries(HELDOUT_QUERIES)]
    assert len(heldout) == len(set(heldout))
    assert not tune & set(heldout)
    assert {row["lang"] for row in load_queries(HELDOUT_QUERIES)} == {"zh", "en"}
