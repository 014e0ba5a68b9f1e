"""Render the parts of the standard as Markdown lines: head, sections, changes, references, appendix.

Each function returns a list of lines (most start with a blank line, so parts
join with one); `agents.report.build` puts them in order. Text from a user, a
document or a model is escaped here (`agents.report.text`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agents.report.council import CouncilProse
from agents.report.text import TITLE_CHARS, clip, escape, escape_prose, labels
from agents.standard.requirements import fact_labels, fact_value_label, value_label
from agents.standard.review import fact_number, review_labels
from agents.standard.types import ChangeDict, FactDict, OpinionDict, PassageDict, RequirementDict, ReviewDict
from tools.catalogue import FACT_KEYS, Instrument
from tools.catalogue.schema import passage_titles_zh


def head_lines(
    *,
    task: str,
    language: str,
    mode: str,
    model: str,
    facts: Mapping[str, FactDict],
    review: ReviewDict | None,
) -> list[str]:
    """The title, who drafted it, the legend and the applicability assumptions (with the review)."""
    lab = labels(language)
    flab = fact_labels(language)
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
    return out + _review_lines(review, language)


def section_lines(
    *,
    number: int,
    key: str,
    task: str,
    language: str,
    facts: Mapping[str, FactDict],
    requirements: Sequence[RequirementDict],
    council: CouncilProse,
    documents: Sequence[PassageDict],
) -> list[str]:
    """One requirement section: its requirements with the council's notes, documents and tailoring.

    Args:
        number: The section's number.
        key: The section (one of `REPORT_SECTIONS`).
        task: The thread's task (the scope statement quotes it).
        language: ``zh`` or ``en``.
        facts: The applicability facts (the scope statement names roles and places).
        requirements: All numbered requirements; those of this section are shown.
        council: The council's placed prose.
        documents: The user's documents (or web results) that bear on this section.
    """
    lab = labels(language)
    out = ["", f"## {number}. {lab['sections'][key]}", ""]
    if key == "scope":
        if council.overview:
            sentences = [
                escape_prose(line)
                if line.endswith((".", "。", "!", "?", "！", "？"))
                else escape_prose(line) + ("。" if language == "zh" else ".")
                for line in council.overview
            ]
            out += [f"**{lab['council']}:** " + ("" if language == "zh" else " ").join(sentences), ""]
        out.append(f"- **1.1** {_scope_statement(task, facts, language)}")
    mine = [r for r in requirements if r["section"] == key]
    for r in mine:
        cite = f"*{r['instrument_name']}, {r['article']}* [{r['passage']}]"
        out.append(f"- **{r['number']}** {r['statement']} — {cite}")
        out.append(f"  _{lab['applies_because']}: {r['because']}_")
        for note in council.attached.get(r["number"], []):
            out.append(f"  - **{lab['council']}** · {escape_prose(note)}")
    if not mine and key != "scope":
        out.append(lab["no_requirements"].format(why=lab["empty_why"].get(key, "")))
    if documents:
        out += ["", f"**{lab['from_documents']}:**"]
        for p in documents:
            out.append(f"- {escape(clip(_first_sentences(p.get('text', '')), 300))} [{p['source_id']}]")
    if council.tailoring.get(key):
        out += ["", f"**{lab['tailoring']}:**"]
        out += [f"- **{lab['council']}** · {escape_prose(line)}" for line in council.tailoring[key]]
    return out


def changes_lines(number: int, changes: Sequence[ChangeDict], language: str) -> list[str]:
    """The section listing what changed against the previous turn."""
    lab = labels(language)
    out = ["", f"## {number}. {lab['changes']}", ""]
    if not changes:
        out.append(lab["changes_none"])
    for c in changes:
        kind = lab["change_kinds"][c["kind"]]
        # Added and tightened requirements are in their sections; a removed one is shown here.
        what = f": ~~{clip(c['statement'], 160)}~~" if c["kind"] == "removed" else ""
        out.append(f"- **{kind}** {c['number']} (`{c['id']}`){what} — {c['reason']}")
    return out


def questions_lines(number: int, questions: Sequence[str], language: str) -> list[str]:
    """The open questions section."""
    lab = labels(language)
    out = ["", f"## {number}. {lab['open_questions']}", ""]
    return out + ([f"- {q}" for q in questions] or [lab["none"]])


def references_lines(
    number: int,
    references: Sequence[PassageDict],
    instruments: Sequence[Instrument],
    language: str,
    catalogue_instruments: Mapping[str, Instrument],
) -> list[str]:
    """The references section, then the instruments the requirements rest on and the texts they reflect.

    Args:
        number: The section's number.
        references: The passages the report cites, in order.
        instruments: The instruments of the requirements (none: no instruments list).
        language: ``zh`` or ``en``.
        catalogue_instruments: Every catalogue instrument by id (to name a reference's source).
    """
    lab = labels(language)
    out = ["", f"## {number}. {lab['references']}", ""]
    out += [_reference_line(p, language, catalogue_instruments) for p in references] or [lab["none"]]
    if instruments:
        out += ["", f"### {lab['instruments']}", ""]
        out += [_instrument_line(i, language, lab) for i in instruments]
    return out


def appendix_lines(
    *,
    synthesis: str,
    opinions: Sequence[OpinionDict],
    rejected: Sequence[tuple[str, str, str]],
    persona_titles: Mapping[str, str],
    language: str,
) -> list[str]:
    """The experts' answers (and the coordinator's, when a line was left out) quoted with each reason."""
    if not (opinions or rejected):
        return []
    lab = labels(language)
    out = ["", f"## {lab['appendix']}"]
    for opinion in opinions:
        who = persona_titles.get(opinion["persona"], opinion["persona"])
        out += ["", f"### {who}", ""]
        out += _quoted(opinion["persona"], opinion["answer"], rejected, lab)
    coordinator = [(line, why) for who, line, why in rejected if who == "coordinator"]
    if coordinator and synthesis.strip():
        out += ["", f"### {persona_titles.get('coordinator', 'coordinator')}", ""]
        out += _quoted("coordinator", synthesis, rejected, lab)
    return out


def _scope_statement(task: str, facts: Mapping[str, FactDict], language: str) -> str:
    lab = labels(language)
    values = {k: f["value"] for k, f in facts.items()}
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


def _quoted(
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
