"""Recognise a high-risk use the rules missed, by embedding similarity to category descriptions.

The rules know the words of each Annex III area; a task can describe the same
use in other words ("a tool that decides which tenants get a flat"). When the
task is in the EU and no rule found a use category, the task is embedded with
the retrieval model (all-MiniLM-L6-v2) and compared with a plain description
of each category (`prompts/use_categories.json`); a close enough match adds
the category with source "similarity", which the report's open questions ask
the reader to confirm. Chinese tasks are glossed into English first with the
corpus notes' own bilingual key terms, since the model reads English.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from agents.standard.facts import fact
from agents.standard.types import FactDict
from prompts import load_json

#: Cosine similarity a task must reach to take a category, and by how much it must beat the runner-up.
THRESHOLD = 0.35
MARGIN = 0.05
#: English words (after glossing) a task needs before it is matched at all.
MIN_WORDS = 4
#: Uses whose decisions about people have significant effects (as in `agents.standard.facts`).
_DECIDING = {
    "annex3:employment",
    "annex3:essential_services",
    "annex3:education",
    "annex3:law_enforcement",
    "annex3:migration",
}
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

Embed = Callable[[Sequence[str]], list[list[float]]]


def examples() -> dict[str, list[str]]:
    """Category -> short examples of its uses."""
    table: dict[str, list[str]] = load_json("use_categories.json")
    return {k: v for k, v in table.items() if not k.startswith("_")}


@cache
def _glossary() -> tuple[tuple[str, str], ...]:
    from tools.catalogue import corpus_passages
    from tools.retrieval.corpus import glossary_pairs

    pairs = {pair for p in corpus_passages().values() for pair in glossary_pairs(p.text) if len(pair[1]) >= 2}
    return tuple(sorted(pairs, key=lambda p: (-len(p[1]), p)))


def gloss(text: str) -> str:
    """The English a Chinese task's terms translate to (its Latin words kept), for the English model."""
    if not _CJK.search(text):
        return text
    english = re.findall(r"[A-Za-z][A-Za-z-]+", text)
    found = [en for en, zh in _glossary() if zh in text]
    return " ".join(dict.fromkeys([*english, *found]))


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


@cache
def _example_vectors(embed: Embed) -> tuple[tuple[str, tuple[float, ...]], ...]:
    flat = [(name, example) for name, items in examples().items() for example in items]
    vectors = embed([example for _, example in flat])
    return tuple((name, tuple(v)) for (name, _), v in zip(flat, vectors, strict=True))


def closest_category(text: str, embed: Embed) -> tuple[str, float, float]:
    """The category with the example most similar to `text`: (category, similarity, margin over the next)."""
    query = embed([gloss(text)])[0]
    best: dict[str, float] = {}
    for name, vector in _example_vectors(embed):
        best[name] = max(best.get(name, -1.0), _cosine(query, vector))
    ranked = sorted(((score, name) for name, score in best.items()), reverse=True)
    (top, name), (second, _) = ranked[0], ranked[1]
    return name, top, top - second


def match_use(facts: Mapping[str, FactDict], text: str, language: str, embed: Embed) -> dict[str, FactDict]:
    """The facts, with a use category added by similarity where the rules found none in an EU task."""
    out = dict(facts)
    values: dict[str, Any] = {k: f["value"] for k, f in facts.items()}
    if (
        "eu" not in values.get("jurisdictions", [])
        or values.get("use_categories")
        or values.get("prohibited")
    ):
        return out
    if len(re.findall(r"[A-Za-z]{3,}", gloss(text))) < MIN_WORDS:
        return out  # a Chinese task the glossary could barely translate: no basis for a match
    name, score, margin = closest_category(text, embed)
    if score < THRESHOLD or margin < MARGIN:
        return out
    label = load_json("fact_labels.json")[language if language == "zh" else "en"]["values"]["use_categories"][
        name
    ]
    reason = (
        f"与“{label}”的描述最接近（相似度 {score:.2f}）"
        if language == "zh"
        else f"closest to {label} ({score:.2f})"
    )
    out["use_categories"] = fact("use_categories", [name], reason, "similarity")
    if (
        name in _DECIDING
        and not values.get("automated_decisions")
        and out["automated_decisions"]["source"] == "default"
    ):
        out["automated_decisions"] = fact("automated_decisions", True, reason, "similarity")
    if (
        name != "annex3:critical_infrastructure"
        and not values.get("data")
        and out["data"]["source"] == "default"
    ):
        out["data"] = fact("data", ["personal"], reason, "similarity")
    return out


def minilm_embed(texts: Sequence[str]) -> list[list[float]]:
    """Embed with the retrieval tool's MiniLM (loaded once per process)."""
    from tools.retrieval.embeddings import MiniLMEmbeddings

    return MiniLMEmbeddings().embed_documents(list(texts))
