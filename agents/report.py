"""Assemble the council's report: sourced statements, checked synthesis, references.

The report is built so that it stays honest on any model (see DESIGN.md,
"Grounded first"): every section opens with statements restated from the
retrieved passages that bear on it, each with its source id; the council's
own prose follows, visibly separate, with its citations checked against what
was retrieved and any law, article or clause it names that no passage
supports flagged as unverified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import TypedDict

from prompts import load_json

#: Report sections in order; the last two are built here, not by the model.
SECTIONS: tuple[str, ...] = (
    "scope",
    "risk",
    "technical",
    "legal",
    "oversight",
    "testing",
    "incident",
    "open_questions",
    "references",
)
#: Sections the model writes synthesis for.
WRITTEN_SECTIONS: tuple[str, ...] = SECTIONS[:-1]
#: Sourced statements shown per section, so one broad passage set cannot swamp a section.
MAX_SOURCED_PER_SECTION = 4
#: Where a passage that matches no section's keywords goes (the notes are legal instruments).
DEFAULT_SECTION = "legal"


class PassageDict(TypedDict, total=False):
    """A retrieved passage as stored in graph state (plain data, JSON-safe)."""

    source_id: str
    title: str
    locator: str
    text: str
    origin: str
    url: str | None
    score: float


class OpinionDict(TypedDict):
    """One expert's answer in graph state."""

    persona: str
    question: str
    answer: str
    model: str


def labels(language: str) -> dict[str, Any]:
    """The fixed report labels in `language` (``zh`` or ``en``)."""
    table: dict[str, dict[str, Any]] = load_json("report_labels.json")
    return table.get(language, table["en"])


def section_headings(language: str) -> list[str]:
    """The written sections' headings in `language`, numbered as in the report."""
    names = labels(language)["sections"]
    return [f"## {i}. {names[key]}" for i, key in enumerate(WRITTEN_SECTIONS, 1)]


# -- sourced statements ------------------------------------------------------------

# A sentence ends at . ! ? (or their CJK forms) followed by space, but not after the
# abbreviations legal text is full of ("Art. 6", "Arts. 9-15", "e.g. a", "No. 3").
_SENTENCE_END = re.compile(
    r"(?<![Aa]rt\.)(?<![Aa]rts\.)(?<!e\.g\.)(?<!i\.e\.)(?<!No\.)(?<!para\.)(?<!cf\.)(?<=[.!?。！？])\s+"
)
#: A statement shorter than this takes the next sentence too.
_MIN_STATEMENT = 140


def sourced_statement(passage: PassageDict, language: str, limit: int = 320) -> str:
    """What `passage` says, briefly: its Chinese summary for a Chinese report, else its opening."""
    lines = [ln.strip() for ln in passage.get("text", "").splitlines() if ln.strip()]
    summary = next((ln.split("：", 1)[1].strip() for ln in lines if ln.startswith("摘要：")), "")
    if language == "zh" and summary:
        return _clip(summary, limit)
    body = " ".join(ln for ln in lines if not ln.startswith(("Key terms:", "摘要：")))
    out = ""
    for sentence in _SENTENCE_END.split(body):
        if out and (len(out) >= _MIN_STATEMENT or len(out) + len(sentence) > limit):
            break
        out = f"{out} {sentence}".strip()
    return _clip(out or body, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def assign_sections(passages: Sequence[PassageDict]) -> dict[str, list[PassageDict]]:
    """Group passages under the sections whose keywords they match best.

    A passage goes to its best-scoring section, and also to a runner-up that
    scores nearly as well, so an article on logging and oversight shows in both.
    """
    keywords: dict[str, list[str]] = {
        k: v for k, v in load_json("section_keywords.json").items() if not k.startswith("_")
    }
    out: dict[str, list[PassageDict]] = {key: [] for key in WRITTEN_SECTIONS}
    for passage in passages:
        hay = " ".join(
            (passage.get("title", ""), passage.get("locator", ""), passage.get("text", ""))
        ).lower()
        scores = {key: sum(hay.count(word) for word in words) for key, words in keywords.items()}
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        best, top = ranked[0]
        chosen = [best] if top > 0 else [DEFAULT_SECTION]
        if top > 0 and len(ranked) > 1 and ranked[1][1] >= max(2, 0.75 * top):
            chosen.append(ranked[1][0])
        for key in chosen:
            if len(out[key]) < MAX_SOURCED_PER_SECTION:
                out[key].append(passage)
    return out


# -- citation and reference checks -----------------------------------------------

_BRACKET = re.compile(r"\[([^\[\]\n]{3,200})\]")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*:\S+$")


@dataclass
class CheckedText:
    """Model prose after checking: marked-up text and what the checks found."""

    text: str
    cited: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


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

    return CheckedText(_BRACKET.sub(replace, text), _unique(cited), _unique(unknown))


_REFERENCE_PATTERNS = (
    re.compile(r"\bArt(?:icle|s?\.)?\s*\d+[a-z]?(?:\(\d+\))*", re.IGNORECASE),
    re.compile(r"第[一二三四五六七八九十百零〇\d]+条"),
    re.compile(r"\bClause\s+\d+(?:\.\d+)*", re.IGNORECASE),
    re.compile(r"\bAnnex\s+[IVXLC]+\b"),
    re.compile(r"\bISO(?:/IEC)?\s*\d{4,5}(?::\d{4})?"),
    re.compile(r"(?<=\()[A-Z][A-Z0-9-]{1,9}(?=\))"),
    re.compile(r"\b(?:[A-Z][A-Za-z]+\s){1,5}(?:Act|Regulation|Directive|Law|Code|Framework|Standard)\b"),
)
#: Acronyms too common to be a claimed instrument.
_COMMON_ACRONYMS = frozenset({"AI", "EU", "US", "UK", "ML", "API", "IT", "HR", "PII", "LLM", "CEO", "UN"})


def _norm(text: str) -> str:
    text = re.sub(r"\barticles?\b|\barts?\b\.?", "art", text.lower())
    return re.sub(r"[\s.\u00a0]+", "", text)


def flag_unverified(text: str, passages: Sequence[PassageDict], mark: str) -> CheckedText:
    """Mark each law, article, clause or acronym named in `text` that no passage mentions."""
    corpus_raw = "\n".join(
        " ".join((p.get("title", ""), p.get("locator", ""), p.get("text", ""))) for p in passages
    )
    corpus = _norm(corpus_raw)
    unverified: list[str] = []
    for pattern in _REFERENCE_PATTERNS:
        for mention in {m.group(0).strip() for m in pattern.finditer(text)}:
            if mention in _COMMON_ACRONYMS or mention in unverified:
                continue
            key = _norm(mention)
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


def check_prose(text: str, passages: Sequence[PassageDict], language: str) -> CheckedText:
    """Both checks on one piece of model prose."""
    lab = labels(language)
    cited = check_citations(text, (p["source_id"] for p in passages), lab["not_retrieved_mark"])
    flagged = flag_unverified(cited.text, passages, lab["unverified_mark"])
    return CheckedText(flagged.text, cited.cited, cited.unknown, flagged.unverified)


# -- the model's synthesis, split by section ---------------------------------------

_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*|\*\*)?\s*(?:\d+[.)、]?\s*)?(?P<title>[^#*\n]{2,60}?)\s*(?:\*\*)?\s*:?\s*$"
)


def split_synthesis(text: str) -> tuple[str, dict[str, str]]:
    """Split model prose on headings that name report sections (in either language).

    Returns:
        The text before the first recognised heading, and each section's text.
    """
    names: dict[str, str] = {}
    for language in ("en", "zh"):
        for key, title in labels(language)["sections"].items():
            names[title.lower()] = key
    current: str | None = None
    preamble: list[str] = []
    parts: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _HEADING.match(line) if line.lstrip().startswith(("#", "**")) or len(line) < 40 else None
        key = _section_for(match.group("title"), names) if match else None
        if key and key != "references":
            current = key
            parts.setdefault(key, [])
            continue
        if key == "references":
            current = "references"  # the model was told not to write one; ours replaces it
            continue
        (parts.setdefault(current, []) if current else preamble).append(line)
    out = {k: "\n".join(v).strip() for k, v in parts.items() if k != "references" and "\n".join(v).strip()}
    return "\n".join(preamble).strip(), out


def _section_for(title: str, names: Mapping[str, str]) -> str | None:
    title = title.strip().lower().rstrip(":：")
    if title in names:
        return names[title]
    for name, key in names.items():
        if len(title) >= 2 and (name in title or title in name):
            return key
    return None


# -- the whole report --------------------------------------------------------------


@dataclass
class Report:
    """The finished report and what went into it."""

    markdown: str
    references: list[PassageDict]
    unknown_ids: list[str]
    unverified: list[str]


def build_report(
    *,
    task: str,
    language: str,
    model: str,
    mode: str,
    passages: Sequence[PassageDict],
    synthesis: str,
    opinions: Sequence[OpinionDict],
    persona_titles: Mapping[str, str],
    warnings: Sequence[str] = (),
) -> Report:
    """Assemble the Markdown standard.

    Args:
        task: The user's request for this turn.
        language: ``zh`` or ``en``; headings and labels follow it.
        model: The model spec that wrote the prose (named in the report).
        mode: ``agentic`` or ``workflow``.
        passages: Everything retrieved this turn.
        synthesis: The coordinator's prose, with section headings.
        opinions: The experts' answers.
        persona_titles: Display title per persona name, in `language`.
        warnings: Retrieval warnings to show under open questions.
    """
    lab = labels(language)
    names = lab["sections"]
    by_section = assign_sections(passages)
    preamble, written = split_synthesis(synthesis)
    if preamble:
        written["scope"] = (preamble + "\n\n" + written.get("scope", "")).strip()

    cited: list[str] = []
    unknown: list[str] = []
    unverified: list[str] = []

    def checked(text: str) -> str:
        result = check_prose(text, passages, language)
        cited.extend(result.cited)
        unknown.extend(result.unknown)
        unverified.extend(result.unverified)
        return result.text

    title = task.strip().splitlines()[0] if task.strip() else ""
    out = [
        f"# {lab['title']}: {_clip(title, 120)}",
        "",
        f"_{lab['drafted_by'].format(mode=mode, model=model)}_",
        "",
        f"_{lab['legend']}_",
    ]
    for number, key in enumerate(WRITTEN_SECTIONS, 1):
        out += ["", f"## {number}. {names[key]}", ""]
        sourced = by_section.get(key, [])
        if key != "open_questions" or sourced:
            out.append(f"**{lab['sourced']}**")
            out.append("")
            if sourced:
                for p in sourced:
                    cited.append(p["source_id"])
                    statement = sourced_statement(p, language)
                    out.append(
                        f"- **{p.get('locator', '')}** ({_short_title(p)}): {statement} [{p['source_id']}]"
                    )
            else:
                out.append(lab["no_sources"])
            out.append("")
        out.append(f"**{lab['synthesis']}**")
        out.append("")
        prose = written.get(key, "").strip()
        out.append(checked(prose) if prose else lab["no_synthesis"])

    # Experts' opinions, checked the same way, before the open questions are totalled.
    appendix: list[str] = []
    for opinion in opinions:
        who = persona_titles.get(opinion["persona"], opinion["persona"])
        appendix += ["", f"### {who}", "", checked(opinion["answer"].strip()) or lab["none"]]

    extra = []
    if _unique(unverified):
        extra += ["", f"**{lab['unverified_refs']}:** " + "; ".join(_unique(unverified))]
    if _unique(unknown):
        extra += ["", f"**{lab['unknown_ids']}:** " + "; ".join(_unique(unknown))]
    if warnings:
        extra += ["", f"**{lab['warnings']}:**", *[f"- {w}" for w in warnings]]
    if extra:
        out += extra

    by_id = {p["source_id"]: p for p in passages}
    references = [by_id[i] for i in _unique(cited) if i in by_id]
    out += ["", f"## {len(WRITTEN_SECTIONS) + 1}. {names['references']}", ""]
    out += [_reference_line(p) for p in references] or [lab["none"]]
    if appendix:
        appendix_title = "专家意见" if language == "zh" else "Appendix: expert opinions"
        out += ["", f"## {appendix_title}", *appendix]
    return Report("\n".join(out).rstrip() + "\n", references, _unique(unknown), _unique(unverified))


def _short_title(p: PassageDict) -> str:
    title = p.get("title", "")
    return title.split(" — ")[0].split(" (")[0] if title else p.get("origin", "")


def _reference_line(p: PassageDict) -> str:
    parts = [f"- [{p['source_id']}] {p.get('title', '')}"]
    if p.get("locator"):
        parts.append(f", {p['locator']}")
    if p.get("origin") == "web":
        parts.append(" (web)")
    if p.get("url"):
        parts.append(f". <{p['url']}>")
    return "".join(parts)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
