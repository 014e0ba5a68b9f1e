"""bench/graph.py's parallel-vs-sequential ratio refuses to compare unequal work."""

from __future__ import annotations

import pytest

from bench.graph import check_equal_work


def words(text: str) -> int:
    return len(text.split())


def test_equal_token_counts_pass_and_give_each_experts_tokens():
    texts = {"parallel": [["a b", "c"], ["x y", "z"]], "sequential": [["a b", "c"], ["a b", "c"]]}
    assert check_equal_work(texts, words) == [2, 1]


def test_a_parallel_round_with_other_token_counts_raises():
    texts = {"parallel": [["a b", "c"], ["a", "c"]], "sequential": [["a b", "c"], ["a b", "c"]]}
    with pytest.raises(RuntimeError, match="unequal work: parallel"):
        check_equal_work(texts, words)


def test_a_missing_expert_reply_raises():
    texts = {"parallel": [["a b"]], "sequential": [["a b", "c"]]}
    with pytest.raises(RuntimeError, match="unequal work"):
        check_equal_work(texts, words)
