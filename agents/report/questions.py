"""The report's open questions: what the facts leave for the reader to check, and source problems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agents.report.text import labels
from agents.standard.requirements import fact_labels
from agents.standard.types import FactDict


def open_questions(facts: Mapping[str, FactDict], language: str, warnings: Sequence[str] = ()) -> list[str]:
    """The open questions in `language`: checks the facts call for, then retrieval warnings.

    Args:
        facts: The applicability facts.
        language: ``zh`` or ``en``.
        warnings: Retrieval and fallback warnings from the turn.
    """
    lab = labels(language)
    q = lab["questions"]
    keys = fact_labels(language)["keys"]
    values = {k: f["value"] for k, f in facts.items()}
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
    # Problems with a source (a failed web search, a file that could not be read) are worth a
    # reader's attention; that web search is off without a key is not.
    notices = [w for w in warnings if not w.startswith("web search skipped")]
    # System messages stay as they are (in English), quoted as code, not as the standard's prose.
    out += [f"{lab['warnings']}: `{w.replace('`', chr(39))}`" for w in notices]
    return out
