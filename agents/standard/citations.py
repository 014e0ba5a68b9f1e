"""Citation checks for model prose: ids that were not retrieved, instruments nothing supports.

An instrument the report rests on is recognised under its usual names
("EU AI Act", "AI Act", "Regulation (EU) 2024/1689", "GDPR",
"《生成式人工智能服务管理暂行办法》"): the catalogue lists them as aliases.
Only a law, article, clause or acronym that no passage and no alias supports
is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agents.standard.types import PassageDict

_BRACKET = re.compile(r"\[([^\[\]\n]{3,200})\]")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*:\S+$")


@dataclass
class CheckedText:
    """Model prose after checking: marked-up text and what the checks found."""

    text: str
    cited: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


def unique(items: Iterable[str]) -> list[str]:
    """Items without repeats, first occurrence first."""
    return list(dict.fromkeys(items))


def check_citations(text: str, known: Iterable[str], not_retrieved_mark: str) -> CheckedText:
    """Keep citations of retrieved ids; flag the others in place.

    A bracket counts as a citation when every comma- or semicolon-separated
    part looks like a source id (``note:section``); other brackets are prose.
    """
    known_ids = set(known)
    cited: list[str] = []
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        parts = [p.strip() for p in re.split(r"[,;，；]", match.group(1)) if p.strip()]
        if not parts or not all(_ID.match(p) for p in parts):
            return match.group(0)
        shown = []
        for part in parts:
            if part in known_ids:
                cited.append(part)
                shown.append(part)
            else:
                unknown.append(part)
                shown.append(f"{part} ⚠ {not_retrieved_mark}")
        return "[" + "; ".join(shown) + "]"

    return CheckedText(_BRACKET.sub(replace, text), unique(cited), unique(unknown))


_REFERENCE_PATTERNS = (
    re.compile(r"\bArt(?:icle|s?\.)?\s*\d+[a-z]?(?:\(\d+\))*", re.IGNORECASE),
    re.compile(r"第[一二三四五六七八九十百零〇\d]+条"),
    re.compile(r"\bClause\s+\d+(?:\.\d+)*", re.IGNORECASE),
    re.compile(r"\bAnnex\s+[IVXLC]+\b"),
    re.compile(r"\bISO(?:/IEC)?\s*\d{4,5}(?::\d{4})?"),
    re.compile(r"(?<=\()[A-Z][A-Z0-9-]{1,9}(?=\))"),
    re.compile(r"\b(?:[A-Z][A-Za-z]+\s){1,5}(?:Act|Regulation|Directive|Law|Code|Framework|Standard)\b"),
    re.compile(r"《[^《》]{2,40}》"),
    # "DER 2020/16", "Directive 2019/790": a name with an instrument number.
    re.compile(r"\b[A-Z][A-Za-z]{1,11}\s+(?:No\.?\s*)?\d{2,4}/\d{1,4}\b"),
    # Acronyms a model may coin for a law ("AIAA", "EUARIA"); common technical ones are allowed below.
    re.compile(r"\b[A-Z][A-Z0-9]{2,7}\b"),
)
#: Acronyms too common to be a claimed instrument.
_COMMON_ACRONYMS = frozenset(
    {
        "AI",
        "EU",
        "US",
        "UK",
        "ML",
        "API",
        "IT",
        "HR",
        "PII",
        "LLM",
        "CEO",
        "UN",
        "USA",
        "FAQ",
        "GPU",
        "CPU",
        "SQL",
        "HTTP",
        "HTTPS",
        "JSON",
        "KPI",
        "KPIS",
        "SLA",
        "SLAS",
        "QA",
        "TLS",
        "SSL",
        "MFA",
        "RBAC",
        "SSO",
        "AUC",
        "ROC",
        "SHAP",
        "LIME",
        "NLP",
        "OCR",
        "ASR",
        "TTS",
        "CRM",
        "ERP",
        "SAAS",
        "APP",
        "APPS",
        "ID",
        "IDS",
        "VPN",
        "PDF",
        "CSV",
        "URL",
        "UI",
        "UX",
        "OK",
        "ISO",
        "IEC",
        "NIST",
        "RMF",
        "OECD",
        "GDPR",
        "CTO",
        "CISO",
        "DPO",
        "DPIA",
        "FRIA",
        "GPAI",
        "PIA",
        "AML",
        "KYC",
        "NHS",
        "ICU",
        "ER",
        "GP",
        "A&E",
        "PIPL",
        "CAC",
        "IP",
        "R&D",
        "GPT",
        "RAG",
        "MLOPS",
        "SOC",
        "NDA",
    }
)


def _norm(text: str) -> str:
    text = re.sub(r"\barticles?\b|\barts?\b\.?", "art", text.lower())
    return re.sub(r"[\s.\u00a0《》“”\"']+", "", text)


def flag_unverified(
    text: str, passages: Sequence[PassageDict], mark: str, *, aliases: Iterable[str] = ()
) -> CheckedText:
    """Mark each law, article, clause or acronym named in `text` that no passage or alias supports.

    Args:
        text: Model prose.
        passages: What the report rests on.
        mark: The word put after an unsupported name.
        aliases: Usual names of the instruments the report rests on.
    """
    corpus_raw = "\n".join(
        " ".join((p.get("title", ""), p.get("locator", ""), p.get("text", ""))) for p in passages
    )
    corpus = _norm(corpus_raw)
    known_names = {_norm(a) for a in aliases if a.strip()}
    unverified: list[str] = []
    for pattern in _REFERENCE_PATTERNS:
        for mention in {m.group(0).strip() for m in pattern.finditer(text)}:
            if mention.upper() in _COMMON_ACRONYMS or mention in unverified:
                continue
            key = _norm(mention)
            # A known name, or one with only "the", "EU" or "European" before it ("the EU AI Act").
            bare = re.sub(r"^(the|eu'?s?|european|欧盟)+", "", key)
            if key in known_names or bare in known_names:
                continue
            # "Art. 5" must not count as supported by "Art. 50": no letter or digit may follow.
            supported = re.search(re.escape(mention) + r"(?![0-9A-Za-z])", corpus_raw) or re.search(
                re.escape(key) + r"(?![0-9a-z])", corpus
            )
            if not supported:
                unverified.append(mention)
    for mention in sorted(unverified, key=len, reverse=True):
        text = re.sub(
            r"(?<![\w⚠])" + re.escape(mention) + r"(?![\w(])(?! \(⚠)", f"{mention} (⚠ {mark})", text
        )
    return CheckedText(text, unverified=unverified)
