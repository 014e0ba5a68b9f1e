"""Assemble the standard as Markdown: assumptions, numbered requirements, the council's gated prose.

The substance comes from the facts and the obligation catalogue, so the
standard is right on any model, large or small: every
requirement names its instrument and article, cites its passage and says
why it applies. Model prose — the coordinator's overview and the experts'
points — passes the quality gate (`agents.standard.gate`) line by line; what
passes is added, marked as the council's, under the requirement it names or
the section it fits; what fails stays in the appendix with the reason.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.standard.citations import unique
from agents.standard.gate import REQUIREMENT_REF, GateResult, gate, normalise
from agents.standard.requirements import REPORT_SECTIONS, fact_labels, fact_value_label, value_label
from agents.standard.review import fact_number, review_labels
from agents.standard.types import ChangeDict, FactDict, OpinionDict, PassageDict, RequirementDict, ReviewDict
from prompts import load_json
from tools.catalogue import FACT_KEYS, Instrument, load_catalogue
from tools.catalogue.schema import passage_titles_zh

#: The report's numbered sections: the requirement sections, then open questions and references.
SECTIONS: tuple[str, ...] = (*REPORT_SECTIONS, "open_questions", "references")
#: Where an expert's unattached points go when no section's keywords fit them.
_HOME = {"scientist": "technical", "legal_expert": "governance"}
#: Characters of the task shown in the title and the scope statement.
TITLE_CHARS = 120


def labels(language: str) -> dict[str, Any]:
    """The fixed report labels in `language` (``zh`` or ``en``)."""
    table: dict[str, dict[str, Any]] = load_json("report_labels.json")
    return table.get(language, table["en"])


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut at `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


#: Markdown that text from a user, a document or a model could use to add structure to the report:
#: links and images ([…](…)), emphasis, code, table cells. Escaped with a backslash.
_MARKDOWN = re.compile(r"([\\`*_\[\]|])")


def escape(text: str) -> str:
    """Text from a user, a document or a model, safe in Markdown that a chat UI renders as HTML.

    HTML is escaped, and so are the characters that would turn quoted text into
    links, images, emphasis, code or table cells; headings cannot start mid-line.
    """
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


#: In model prose that passed the gate, its citations ("[gdpr:art-5]") stay as they are; what
#: would make a link or an image, emphasis, code or a table cell is escaped.
_PROSE_MARKDOWN = re.compile(r"(\]\(|!\[|[`*_|])")


def escape_prose(text: str) -> str:
    """A model's line, safe in the report: HTML and Markdown structure escaped, citations kept."""
    return _PROSE_MARKDOWN.sub(
        lambda m: "\\" + m.group(0) if m.group(0) != "](" else "]\\(", html.escape(text, quote=False)
    )


@dataclass
class Report:
    """The finished report and what went into it."""

    markdown: str
    references: list[PassageDict]
    unknown_ids: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    council_lines: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)


def section_for_text(text: str, default: str) -> str:
    """The requirement section whose keywords `text` matches best (`default` when none)."""
    keywords: dict[str, list[str]] = {
        k: v for k, v in load_json("section_keywords.json").items() if not k.startswith("_")
    }
    hay = text.lower()
    scores = {
        key: sum(hay.count(w) for w in words) for key, words in keywords.items() if key in REPORT_SECTIONS
    }
    best = max(scores.items(), key=lambda kv: kv[1], default=(default, 0))
    return best[0] if best[1] > 0 else default


def build_report(
    *,
    task: str,
    language: str,
    model: str,
    mode: str,
    facts: Mapping[str, FactDict],
    requirements: Sequence[RequirementDict],
    passages: Sequence[PassageDict],
    synthesis: str = "",
    opinions: Sequence[OpinionDict] = (),
    persona_titles: Mapping[str, str] | None = None,
    changes: Sequence[ChangeDict] | None = None,
    section_documents: Mapping[str, Sequence[PassageDict]] | None = None,
    warnings: Sequence[str] = (),
    review: ReviewDict | None = None,
) -> Report:
    """Assemble the Markdown standard.

    Args:
        task: The thread's task (the title).
        language: ``zh`` or ``en``: every label, statement and reason follows it.
        model: The model spec that wrote the prose (named in the report).
        mode: ``agentic`` or ``workflow``.
        facts: The applicability facts.
        requirements: The numbered requirements (`build_requirements`).
        passages: The requirements' passages and everything retrieved this turn.
        synthesis: The coordinator's overview (gated).
        opinions: The experts' answers (gated line by line).
        persona_titles: Display title per persona name.
        changes: What changed against the previous turn (follow-ups); None on a first turn.
        section_documents: The user's documents (or web results) that bear on each section.
        warnings: Retrieval and fallback warnings, shown under open questions.
        review: The reviewer's decision on the facts, when the turn paused for review.
    """
    lab = labels(language)
    flab = fact_labels(language)
    catalogue = load_catalogue()
    persona_titles = persona_titles or {}
    values = {k: f["value"] for k, f in facts.items()}
    by_id = {p["source_id"]: p for p in passages}
    used_instruments = unique(r["instrument"] for r in requirements)
    used_instruments += [
        i for i in unique(p["source_id"].split(":")[0] for p in passages) if i not in used_instruments
    ]
    aliases = [
        name
        for iid in used_instruments
        if iid in catalogue.instruments
        for name in (
            *catalogue.instruments[iid].aliases,
            catalogue.instruments[iid].name,
            catalogue.instruments[iid].name_zh,
        )
    ]
    allowed = [*passages, *(by_id[r["passage"]] for r in requirements if r["passage"] in by_id)]

    # -- the council's prose, through the gate ------------------------------------------------
    seen: set[str] = {normalise(r["statement"]) for r in requirements}
    numbers = {r["number"] for r in requirements}
    attached: dict[str, list[str]] = {}
    tailoring: dict[str, list[str]] = {}
    rejected: list[tuple[str, str, str]] = []
    council_lines: list[str] = []
    cited: list[str] = [r["passage"] for r in requirements]

    # What the standard is about: a council line must share enough of this vocabulary.
    context = "\n".join([task, *(r["statement"] for r in requirements), *lab["sections"].values()])

    def passed(text: str, who: str) -> GateResult:
        result = gate(text, language=language, passages=allowed, aliases=aliases, seen=seen, context=context)
        rejected.extend((who, line, why) for line, why in result.rejected)
        cited.extend(result.cited)
        council_lines.extend(result.kept)
        return result

    overview = passed(synthesis, "coordinator").kept if synthesis.strip() else []
    for opinion in opinions:
        who = opinion["persona"]
        title = persona_titles.get(who, who)
        for line in passed(opinion["answer"], who).kept:
            ref = REQUIREMENT_REF.match(line)
            if ref and ref.group(1) in numbers:
                attached.setdefault(ref.group(1), []).append(f"{title}: {line[ref.end() :].strip()}")
            else:
                section = section_for_text(line, _HOME.get(who, "governance"))
                tailoring.setdefault(section, []).append(f"{title}: {line}")

    # -- the document ---------------------------------------------------------------------
    title = task.strip().splitlines()[0] if task.strip() else ""
    out = [
        f"# {lab['title']}: {escape(clip(title, TITLE_CHARS))}",
        "",
        f"_{lab['drafted_by'].format(mode=mode, model=model)}_",
        "",
        f"_{lab['legend']}_",
        "",
        f"## {lab['assumptions']}",
        "",
        f"| | {lab['fact']} | {lab['value']} | {lab['why']} | {lab['source']} |",
        "|---|---|---|---|---|",
    ]
    for i, key in enumerate(FACT_KEYS, 1):
        f = facts.get(key)
        if f is None:
            continue
        shown = fact_value_label(key, f["value"], language)
        source = flab["sources"].get(f["source"], f["source"])
        out.append(f"| A{i} | {flab['keys'][key]} | {shown} | {escape(f['reason'])} | {source} |")
    out += ["", f"_{lab['assumptions_hint']}_"]
    out += _review_lines(review, language)

    documents = section_documents or {}
    for number, key in enumerate(REPORT_SECTIONS, 1):
        out += ["", f"## {number}. {lab['sections'][key]}", ""]
        if key == "scope":
            if overview:
                sentences = [
                    escape_prose(line)
                    if line.endswith((".", "。", "!", "?", "！", "？"))
                    else escape_prose(line) + ("。" if language == "zh" else ".")
                    for line in overview
                ]
                out += [f"**{lab['council']}:** " + ("" if language == "zh" else " ").join(sentences), ""]
            out.append(f"- **1.1** {_scope_statement(task, values, language)}")
        mine = [r for r in requirements if r["section"] == key]
        for r in mine:
            cite = f"*{r['instrument_name']}, {r['article']}* [{r['passage']}]"
            out.append(f"- **{r['number']}** {r['statement']} — {cite}")
            out.append(f"  _{lab['applies_because']}: {r['because']}_")
            for note in attached.get(r["number"], []):
                out.append(f"  - **{lab['council']}** · {escape_prose(note)}")
        if not mine and key != "scope":
            out.append(lab["no_requirements"].format(why=lab["empty_why"].get(key, "")))
        docs = documents.get(key, [])
        if docs:
            out += ["", f"**{lab['from_documents']}:**"]
            for p in docs:
                cited.append(p["source_id"])
                out.append(f"- {escape(clip(_first_sentences(p.get('text', '')), 300))} [{p['source_id']}]")
        if tailoring.get(key):
            out += ["", f"**{lab['tailoring']}:**"]
            out += [f"- **{lab['council']}** · {escape_prose(line)}" for line in tailoring[key]]

    next_number = len(REPORT_SECTIONS) + 1
    if changes is not None:
        out += ["", f"## {next_number}. {lab['changes']}", ""]
        next_number += 1
        if not changes:
            out.append(lab["changes_none"])
        for c in changes:
            kind = lab["change_kinds"][c["kind"]]
            # Added and tightened requirements are in their sections; a removed one is shown here.
            what = f": ~~{clip(c['statement'], 160)}~~" if c["kind"] == "removed" else ""
            out.append(f"- **{kind}** {c['number']} (`{c['id']}`){what} — {c['reason']}")

    out += ["", f"## {next_number}. {lab['open_questions']}", ""]
    next_number += 1
    questions = _open_questions(facts, values, language)
    # Problems with a source (a failed web search, a file that could not be read) are worth a
    # reader's attention; that web search is off without a key is not.
    notices = [w for w in warnings if not w.startswith("web search skipped")]
    if notices:
        # System messages stay as they are (in English), quoted as code, not as the standard's prose.
        questions += [f"{lab['warnings']}: `{w.replace('`', chr(39))}`" for w in notices]
    out += [f"- {q}" for q in questions] or [lab["none"]]

    references = [by_id[i] for i in unique(cited) if i in by_id]
    out += ["", f"## {next_number}. {lab['references']}", ""]
    out += [_reference_line(p, language, catalogue.instruments) for p in references] or [lab["none"]]

    instruments = [catalogue.instruments[i] for i in unique(r["instrument"] for r in requirements)]
    if instruments:
        out += ["", f"### {lab['instruments']}", ""]
        out += [_instrument_line(i, language, lab) for i in instruments]

    if opinions or rejected:
        out += ["", f"## {lab['appendix']}"]
        for opinion in opinions:
            who = persona_titles.get(opinion["persona"], opinion["persona"])
            out += ["", f"### {who}", ""]
            out += _appendix_lines(opinion["persona"], opinion["answer"], rejected, lab)
        coordinator = [(line, why) for who, line, why in rejected if who == "coordinator"]
        if coordinator and synthesis.strip():
            out += ["", f"### {persona_titles.get('coordinator', 'coordinator')}", ""]
            out += _appendix_lines("coordinator", synthesis, rejected, lab)
    return Report(
        "\n".join(out).rstrip() + "\n",
        references,
        council_lines=council_lines,
        rejected=rejected,
    )


def _scope_statement(task: str, values: Mapping[str, Any], language: str) -> str:
    lab = labels(language)
    sep = "、" if language == "zh" else ", "
    roles = sep.join(
        value_label("roles", r, language) for r in values.get("roles") or ["provider", "deployer"]
    )
    places = sep.join(value_label("jurisdictions", j, language) for j in values.get("jurisdictions", []))
    return str(lab["scope_statement"]).format(
        task=escape(clip(task, TITLE_CHARS)),
        roles=roles,
        jurisdictions=places or lab["scope_jurisdictions_none"],
    )


def _review_lines(review: ReviewDict | None, language: str) -> list[str]:
    """What the reviewer decided, under the assumptions they reviewed (nothing when not reviewed)."""
    if not review:
        return []
    text = review_labels(language)
    keys = fact_labels(language)["keys"]
    sep = "、" if language == "zh" else ", "
    if review["corrected"]:
        named = sep.join(f"A{fact_number(k)} ({keys[k]})" for k in review["corrected"])
        out = ["", f"**{text['report_corrected'].format(facts=named)}**"]
    else:
        out = ["", f"**{text['report_approved']}**"]
    if review["note"]:
        out += ["", escape(text["report_note"].format(note=clip(review["note"], 600)))]
    return out


def _open_questions(facts: Mapping[str, FactDict], values: Mapping[str, Any], language: str) -> list[str]:
    q = labels(language)["questions"]
    keys = fact_labels(language)["keys"]
    out: list[str] = []
    places = set(values.get("jurisdictions", []))
    if not places:
        out.append(q["no_jurisdiction"])
    roles = facts.get("roles")
    if roles is not None and roles["source"] == "default":
        out.append(q["role_default"])
    if "us" in places:
        out.append(q["us_no_statute"])
    if "other" in places:
        out.append(q["other_no_statute"])
    if values.get("prohibited"):
        out.append(q["prohibited"])
    elif "eu" in places and any(str(c).startswith("annex3:") for c in values.get("use_categories", [])):
        out.append(q["eu_derogation"])
    if "gpai_model" in values.get("system_kinds", []) and "gpai_provider" in values.get("roles", []):
        out.append(q["gpai_systemic"])
    for key, f in facts.items():
        if f.get("source") == "similarity":
            out.append(q["similarity"].format(fact=keys.get(key, key)))
    return out


def _appendix_lines(
    who: str, text: str, rejected: Iterable[tuple[str, str, str]], lab: Mapping[str, Any]
) -> list[str]:
    why = {line: reason for w, line, reason in rejected if w == who}
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return [lab["none"]]
    out = []
    for line in lines:
        shown = escape(clip(line, 400))
        # Model text must not become Markdown structure in the report: headings are quoted.
        shown = re.sub(r"^#+", lambda m: "\\" + m.group(0), shown)
        out.append(f"> {shown}" + (f" ⚠ *{lab['left_out']}: {why[line]}*" if line in why else ""))
        out.append(">")
    return out[:-1]


def _first_sentences(text: str, limit: int = 280) -> str:
    body = " ".join(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Key terms:"))
    parts = re.split(r"(?<=[.!?。！？])\s+", body)
    out = ""
    for part in parts:
        if out and len(out) + len(part) > limit:
            break
        out = f"{out} {part}".strip()
    return out or body


def _reference_line(p: PassageDict, language: str, instruments: Mapping[str, Instrument]) -> str:
    instrument = instruments.get(p["source_id"].split(":")[0])
    zh_title = passage_titles_zh().get(p["source_id"]) if language == "zh" else None
    if instrument is not None and zh_title:
        # A Chinese standard names its sources in Chinese; the URL still leads to the official text.
        title = f"{instrument.display('zh')} — {zh_title}"
    else:
        title = p.get("title", "")
    parts = [f"- [{p['source_id']}] {escape(title)}"]
    if p.get("locator"):
        parts.append(f", {escape(p['locator'] or '')}")
    if p.get("origin") == "web":
        parts.append(" (web)")
    if p.get("url"):
        parts.append(f". <{p['url']}>")
    return "".join(parts)


def _instrument_line(instrument: Instrument, language: str, lab: Mapping[str, Any]) -> str:
    reflects = instrument.reflects_zh if language == "zh" else instrument.reflects
    binding = lab["binding"].get(instrument.binding, instrument.binding)
    return f"- **{instrument.display(language)}** ({binding}): {reflects}"
