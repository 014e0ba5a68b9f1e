"""`build_report`: the standard's parts, gated and rendered, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agents.report.council import place_council_prose
from agents.report.markdown import (
    appendix_lines,
    changes_lines,
    head_lines,
    questions_lines,
    references_lines,
    section_lines,
)
from agents.report.questions import open_questions
from agents.report.text import labels
from agents.standard.citations import unique
from agents.standard.requirements import REPORT_SECTIONS
from agents.standard.types import ChangeDict, FactDict, OpinionDict, PassageDict, RequirementDict, ReviewDict
from tools.catalogue import Catalogue, load_catalogue

#: The report's numbered sections: the requirement sections, then open questions and references.
SECTIONS: tuple[str, ...] = (*REPORT_SECTIONS, "open_questions", "references")


@dataclass
class Report:
    """The finished report and what went into it."""

    markdown: str
    references: list[PassageDict]
    unknown_ids: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    council_lines: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)


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
    catalogue = load_catalogue()
    persona_titles = persona_titles or {}
    documents = section_documents or {}
    by_id = {p["source_id"]: p for p in passages}
    council = place_council_prose(
        synthesis=synthesis,
        opinions=opinions,
        requirements=requirements,
        persona_titles=persona_titles,
        language=language,
        allowed=[*passages, *(by_id[r["passage"]] for r in requirements if r["passage"] in by_id)],
        aliases=_instrument_aliases(catalogue, requirements, passages),
        # What the standard is about: a council line must share enough of this vocabulary.
        context="\n".join(
            [task, *(r["statement"] for r in requirements), *labels(language)["sections"].values()]
        ),
    )

    out = head_lines(task=task, language=language, mode=mode, model=model, facts=facts, review=review)
    for number, key in enumerate(REPORT_SECTIONS, 1):
        out += section_lines(
            number=number,
            key=key,
            task=task,
            language=language,
            facts=facts,
            requirements=requirements,
            council=council,
            documents=documents.get(key, []),
        )
    number = len(REPORT_SECTIONS) + 1
    if changes is not None:
        out += changes_lines(number, changes, language)
        number += 1
    out += questions_lines(number, open_questions(facts, language, warnings), language)

    # Cited, in order: the requirements' passages, the council's citations, the section documents.
    cited = [
        *(r["passage"] for r in requirements),
        *council.cited,
        *(p["source_id"] for key in REPORT_SECTIONS for p in documents.get(key, [])),
    ]
    references = [by_id[i] for i in unique(cited) if i in by_id]
    instruments = [catalogue.instruments[i] for i in unique(r["instrument"] for r in requirements)]
    out += references_lines(number + 1, references, instruments, language, catalogue.instruments)
    out += appendix_lines(
        synthesis=synthesis,
        opinions=opinions,
        rejected=council.rejected,
        persona_titles=persona_titles,
        language=language,
    )
    return Report(
        "\n".join(out).rstrip() + "\n",
        references,
        council_lines=council.kept,
        rejected=council.rejected,
    )


def _instrument_aliases(
    catalogue: Catalogue, requirements: Sequence[RequirementDict], passages: Sequence[PassageDict]
) -> list[str]:
    """Every name of the instruments in play (the requirements', then the passages'): prose may name them."""
    used = unique(r["instrument"] for r in requirements)
    used += [i for i in unique(p["source_id"].split(":")[0] for p in passages) if i not in used]
    return [
        name
        for iid in used
        if iid in catalogue.instruments
        for name in (
            *catalogue.instruments[iid].aliases,
            catalogue.instruments[iid].name,
            catalogue.instruments[iid].name_zh,
        )
    ]
