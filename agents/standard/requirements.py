"""From facts to the standard's numbered requirements, and what changed since the last turn."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, cast

from agents.standard.types import ChangeDict, FactDict, PassageDict, RequirementDict
from prompts import load_json
from tools.catalogue import (
    SECTIONS,
    Catalogue,
    corpus_passages,
    load_catalogue,
    reasons_for,
    select_obligations,
)

#: The report's requirement sections in order (the catalogue's); requirements are numbered "<section>.<n>".
REPORT_SECTIONS: tuple[str, ...] = SECTIONS


def requirement_passages(requirements: Sequence[RequirementDict]) -> list[PassageDict]:
    """The corpus passages the requirements rest on, once each, in requirement order."""
    corpus = corpus_passages()
    ids = dict.fromkeys(r["passage"] for r in requirements)
    return [cast(PassageDict, asdict(corpus[i])) for i in ids if i in corpus]


def fact_labels(language: str) -> dict[str, Any]:
    """Display names of facts, values and tags in `language`."""
    table: dict[str, Any] = load_json("fact_labels.json")
    return table.get(language, table["en"])


def value_label(key: str, value: Any, language: str) -> str:
    """One fact value as the report shows it."""
    names = fact_labels(language)["values"].get(key, {})
    if isinstance(value, bool):
        return str(names.get(str(value).lower(), value))
    return str(names.get(value, value))


def fact_value_label(key: str, value: Any, language: str) -> str:
    """A fact's whole value in words, as the assumptions table (and the review of it) shows it."""
    if key == "roles" and not value:
        return str(fact_labels(language)["roles_unknown"])
    if isinstance(value, list):
        return ", ".join(value_label(key, v, language) for v in value) or str(fact_labels(language)["none"])
    return value_label(key, value, language)


def tag_label(tag: str, values: Mapping[str, Any], language: str) -> str:
    """A condition tag in words ("eu" -> "EU", "high_risk" -> "high-risk … (Annex III(4) …)")."""
    lab = fact_labels(language)
    prefix, _, rest = tag.partition(":")
    if tag.startswith("framework:"):
        return str(lab["framework_asked"])
    if tag.startswith("role:"):
        role = value_label("roles", rest, language)
        return f"角色：{role}" if language == "zh" else f"you are the {role}"
    if tag.startswith(("annex3:", "annex1:")):
        return value_label("use_categories", tag, language)
    keyed = {"data": "data", "kind": "system_kinds", "sector": "sector", "prohibited": "prohibited"}
    if rest and prefix in keyed:
        return value_label(keyed[prefix], rest, language)
    for key in ("jurisdictions", "roles"):
        if tag in lab["values"][key]:
            return value_label(key, tag, language)
    text = str(lab["tags"].get(tag, tag))
    if tag == "high_risk" and values.get("use_categories"):
        cats = "; ".join(value_label("use_categories", c, language) for c in values["use_categories"])
        text += f"（{cats}）" if language == "zh" else f" ({cats})"
    return text


_ROMAN = {
    "I": "一",
    "II": "二",
    "III": "三",
    "IV": "四",
    "V": "五",
    "VI": "六",
    "VII": "七",
    "VIII": "八",
    "IX": "九",
    "X": "十",
    "XI": "十一",
    "XII": "十二",
    "XIII": "十三",
}


def _roman(match: re.Match[str]) -> str:
    first, last = match.group(1), match.group(2)
    out = "附件" + _ROMAN.get(first, first)
    return out + ("至" + _ROMAN.get(last, last) if last else "")


def article_label(article: str, language: str) -> str:
    """An article locator in the report's language ("Art. 26(1)" -> "第26(1)条" in Chinese).

    Locators with words in them ("Art. 73 (internal escalation)") stay as the catalogue wrote them.
    """
    if language != "zh" or re.search(r"[\u4e00-\u9fff]", article) or re.search(r"\([a-z]{3,}", article):
        return article
    number = r"\d+(?:\([0-9a-z]+\))*(?:\s*[-–]\s*\(?[0-9a-z]+\)?)*"
    numbers = rf"{number}(?:,\s*(?:{number}|\([0-9a-z]+\)(?:\s*[-–]\s*\([0-9a-z]+\))?))*"
    text = re.sub(rf"\bArts?\.\s*({numbers})", r"第\1条", article)
    text = re.sub(r"\bAnnex(?:es)?\s+([IVX]+)\b(?:\s*[-–]\s*([IVX]+)\b)?", _roman, text)
    text = re.sub(r"\bAnnex\s+([A-D](?:\.\d+)*)", r"附录\1", text)
    text = re.sub(r"\bpoints?\s+([\w()–-]+)", r"第\1点", text)
    text = re.sub(
        r"\bRecitals?\s+(\d+(?:(?:, | and )\d+)*)",
        lambda m: "序言第" + re.sub(r", | and ", "、", m.group(1)) + "段",
        text,
    )
    text = re.sub(r"\bClauses?\s+([\d.]+(?:\s*[-–]\s*[\d.]+)?)", r"第\1条", text)
    text = re.sub(r"\bPrinciple\s+([\d.]+)", r"原则\1", text)
    return text.replace(" and ", "及").replace("; ", "；")


def build_requirements(
    facts: Mapping[str, FactDict],
    language: str,
    strict_topics: Iterable[str] = (),
    catalogue: Catalogue | None = None,
) -> list[RequirementDict]:
    """The standard's requirements for these facts, numbered by section.

    Section 1 opens with the scope statement (1.1, written by the report), so
    catalogue requirements in it start at 1.2.
    """
    catalogue = catalogue or load_catalogue()
    values = {k: f["value"] for k, f in facts.items()}
    counters = {s: (1 if s == "scope" else 0) for s in REPORT_SECTIONS}
    out: list[RequirementDict] = []
    sep = "；" if language == "zh" else "; "
    for o in select_obligations(catalogue, values, strict_topics):
        counters[o.section] += 1
        instrument = catalogue.instruments[o.instrument]
        because = sep.join(dict.fromkeys(tag_label(t, values, language) for t in reasons_for(o, values)))
        out.append(
            {
                "id": o.id,
                "number": f"{REPORT_SECTIONS.index(o.section) + 1}.{counters[o.section]}",
                "section": o.section,
                "instrument": o.instrument,
                "instrument_name": instrument.display(language),
                "binding": instrument.binding,
                "article": article_label(o.article, language),
                "passage": o.passage,
                "statement": o.shall(language),
                "because": because,
                "level": o.level,
                "tightens": o.tightens,
            }
        )
    return out


def diff_requirements(
    before: Sequence[RequirementDict],
    after: Sequence[RequirementDict],
    *,
    language: str,
    corrected: Sequence[str] = (),
    tightened_topics: Sequence[str] = (),
    relaxed_topics: Sequence[str] = (),
) -> list[ChangeDict]:
    """What a follow-up changed: requirements added, tightened (a stricter entry replaced one) or removed."""
    zh = language == "zh"
    labels = fact_labels(language)["keys"]
    facts_why = (
        "、".join(labels.get(k, k) for k in corrected)
        if zh
        else ", ".join(labels.get(k, k).lower() for k in corrected)
    )
    names = fact_labels(language)["topics"]
    topics = ("、" if zh else ", ").join(names.get(t, t) for t in tightened_topics)
    old = {r["id"]: r for r in before}
    new = {r["id"]: r for r in after}
    changes: list[ChangeDict] = []
    for r in after:
        if r["id"] in old:
            continue
        if r["tightens"] and r["tightens"] in old:
            reason = f"应您的要求从严（{topics}）" if zh else f"you asked to tighten {topics}"
            changes.append(_change("tightened", r, reason))
        elif r["level"] == "strict":
            reason = f"应您的要求从严（{topics}）" if zh else f"you asked to tighten {topics}"
            changes.append(_change("added", r, reason))
        else:
            reason = (
                f"更正后的事实使其适用：{facts_why}"
                if zh
                else f"it applies after the correction of: {facts_why}"
            )
            changes.append(
                _change("added", r, reason if corrected else ("新适用" if zh else "newly applies"))
            )
    replaced = {r["tightens"] for r in after if r["tightens"]}
    for r in before:
        if r["id"] in new or r["id"] in replaced:
            continue
        if r["level"] == "strict" and relaxed_topics:
            relaxed = ("、" if zh else ", ").join(names.get(t, t) for t in relaxed_topics)
            reason = f"应您的要求放宽（{relaxed}）" if zh else f"you asked to relax {relaxed}"
        else:
            reason = (
                f"更正后的事实使其不再适用：{facts_why}"
                if zh
                else f"it no longer applies after the correction of: {facts_why}"
            )
        changes.append(_change("removed", r, reason))
    return changes


def _change(kind: str, r: RequirementDict, reason: str) -> ChangeDict:
    return {"kind": kind, "id": r["id"], "number": r["number"], "statement": r["statement"], "reason": reason}  # type: ignore[typeddict-item]
