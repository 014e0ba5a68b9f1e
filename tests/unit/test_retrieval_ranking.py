"""Ranking parts: CJK-aware tokens, BM25, and reciprocal-rank fusion."""

from __future__ import annotations

import pytest

from tools.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from tools.retrieval.lexical import BM25, tokenize


def test_tokens_are_folded_words_and_cjk_bigrams():
    assert tokenize("The Systems of ＡＩ, Art. 22") == ["system", "ai", "art", "22"]
    assert tokenize("人工智能") == ["人工", "工智", "智能"]
    assert tokenize("高风险AI系统") == ["高风", "风险", "ai", "系统"]
    assert tokenize("法 process analysis") == ["法", "process", "analysis"]


def test_bm25_prefers_rarer_and_more_frequent_terms():
    docs = [
        tokenize("human oversight of high-risk systems 人类监督"),
        tokenize("risk management for high-risk systems"),
        tokenize("transparency for chatbots"),
    ]
    bm25 = BM25(docs)
    assert [i for i, _ in bm25.top(tokenize("人类监督"), 3)] == [0]
    assert next(i for i, _ in bm25.top(tokenize("risk management"), 3)) == 1
    assert bm25.top(tokenize("nothing matches"), 3) == []
    scores = bm25.scores(tokenize("high-risk"))
    assert scores[0] > 0 and scores[1] > 0 and scores[2] == 0


def test_bm25_top_is_deterministic_on_ties_and_bounded():
    bm25 = BM25([tokenize("same words")] * 5)
    assert [i for i, _ in bm25.top(tokenize("same"), 3)] == [0, 1, 2]
    assert BM25([]).top(["x"], 3) == []


def test_rrf_rewards_agreement_between_rankers():
    fused = reciprocal_rank_fusion([(["a", "b", "c"], 1.0), (["b", "d"], 1.0)])
    assert [i for i, _ in fused] == ["b", "a", "d", "c"]
    assert fused[0][1] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))


def test_rrf_weights_and_zero_weight_drop_a_ranker():
    assert [i for i, _ in reciprocal_rank_fusion([(["a"], 1.0), (["b"], 2.0)])] == ["b", "a"]
    assert [i for i, _ in reciprocal_rank_fusion([(["a"], 1.0), (["b"], 0.0)])] == ["a"]


def test_rrf_ties_keep_first_seen_order_and_repeats_count_once():
    fused = reciprocal_rank_fusion([(["x", "y"], 1.0), (["y", "x"], 1.0)])
    assert [i for i, _ in fused] == ["x", "y"]
    assert reciprocal_rank_fusion([(["a", "a", "b"], 1.0)])[0][1] == pytest.approx(1 / (RRF_K + 1))
