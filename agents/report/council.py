"""The council's prose in the report: each line through the quality gate, then placed.

A kept line that opens with a requirement's number ("4.1: …") goes under that
requirement; any other kept line goes to the requirement section whose keywords
it matches best (or its expert's home section). Rejected lines keep their reason
for the appendix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agents.standard.gate import REQUIREMENT_REF, GateResult, gate, normalise
from agents.standard.requirements import REPORT_SECTIONS
from agents.standard.types import OpinionDict, PassageDict, RequirementDict
from prompts import load_json

#: Where an expert's unattached points go when no section's keywords fit them.
_HOME = {"scientist": "technical", "legal_expert": "governance"}


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


@dataclass
class CouncilProse:
    """The council's lines after the gate, placed where the report shows them."""

    #: The coordinator's kept lines, shown at the top of the scope section.
    overview: list[str] = field(default_factory=list)
    #: Kept expert lines per requirement number ("Title: line").
    attached: dict[str, list[str]] = field(default_factory=dict)
    #: Kept expert lines per requirement section ("Title: line").
    tailoring: dict[str, list[str]] = field(default_factory=dict)
    #: (who, line, reason) for every line the gate left out.
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    #: Every kept line, in order.
    kept: list[str] = field(default_factory=list)
    #: Passage ids the kept lines cite, in order.
    cited: list[str] = field(default_factory=list)


def place_council_prose(
    *,
    synthesis: str,
    opinions: Sequence[OpinionDict],
    requirements: Sequence[RequirementDict],
    persona_titles: Mapping[str, str],
    language: str,
    allowed: Sequence[PassageDict],
    aliases: Sequence[str],
    context: str,
) -> CouncilProse:
    """Gate the coordinator's overview and the experts' answers line by line and place what passes.

    Args:
        synthesis: The coordinator's overview.
        opinions: The experts' answers.
        requirements: The numbered requirements (a line may not repeat one, and may attach to one).
        persona_titles: Display title per persona name.
        language: ``zh`` or ``en``: a line in another language is left out.
        allowed: The passages a line may cite.
        aliases: Names of the instruments in play, which a line may name.
        context: What the standard is about: a line must share enough of this vocabulary.
    """
    out = CouncilProse()
    # The gate adds each kept line to `seen`, so a later line may not repeat an earlier one either.
    seen: set[str] = {normalise(r["statement"]) for r in requirements}
    numbers = {r["number"] for r in requirements}

    def passed(text: str, who: str) -> GateResult:
        result = gate(text, language=language, passages=allowed, aliases=aliases, seen=seen, context=context)
        out.rejected.extend((who, line, why) for line, why in result.rejected)
        out.cited.extend(result.cited)
        out.kept.extend(result.kept)
        return result

    out.overview = passed(synthesis, "coordinator").kept if synthesis.strip() else []
    for opinion in opinions:
        who = opinion["persona"]
        title = persona_titles.get(who, who)
        for line in passed(opinion["answer"], who).kept:
            ref = REQUIREMENT_REF.match(line)
            if ref and ref.group(1) in numbers:
                out.attached.setdefault(ref.group(1), []).append(f"{title}: {line[ref.end() :].strip()}")
            else:
                section = section_for_text(line, _HOME.get(who, "governance"))
                out.tailoring.setdefault(section, []).append(f"{title}: {line}")
    return out
