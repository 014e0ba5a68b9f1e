"""Choose the obligations a task's facts make applicable, and say why each applies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tools.catalogue.schema import SECTIONS, Catalogue, Obligation
from tools.catalogue.vocabulary import effective_roles, tags_for


def applies(obligation: Obligation, tags: frozenset[str], roles: set[str]) -> bool:
    """Whether `obligation` binds an organisation with these tags and roles."""
    return obligation.when.holds(tags) and (not obligation.roles or bool(set(obligation.roles) & roles))


def select_obligations(
    catalogue: Catalogue, values: Mapping[str, Any], strict_topics: Iterable[str] = ()
) -> list[Obligation]:
    """The obligations that apply to a task, in report order.

    Args:
        catalogue: The obligation catalogue.
        values: Fact values (key -> value).
        strict_topics: Topics a follow-up asked to tighten: their ``strict``
            entries are added, and a strict entry that ``tightens`` a baseline
            one replaces it.

    Returns:
        Obligations grouped by report section (in `SECTIONS` order), in
        catalogue order within a section.
    """
    tags = tags_for(values)
    roles = effective_roles(values)
    topics = set(strict_topics)
    named = set(values.get("frameworks") or [])
    chosen = [
        o
        for o in catalogue.obligations
        # A framework the task asks to follow applies in full, wherever the organisation is.
        if (o.instrument in named and (not o.roles or bool(set(o.roles) & roles)))
        or (applies(o, tags, roles) and (o.level == "baseline" or bool(set(o.topics) & topics)))
    ]
    replaced = {o.tightens for o in chosen if o.tightens}
    kept = [o for o in chosen if o.id not in replaced]
    return sorted(kept, key=lambda o: SECTIONS.index(o.section))


def reasons_for(obligation: Obligation, values: Mapping[str, Any]) -> list[str]:
    """The tags (and role) that make `obligation` apply: what "applies because" shows."""
    if obligation.instrument in (values.get("frameworks") or []):
        return [f"framework:{obligation.instrument}"]
    tags = tags_for(values)
    out = [t for t in sorted(obligation.when.all) if t != "any"]
    out += sorted(obligation.when.any & tags)
    roles = [r for r in obligation.roles if r in effective_roles(values)]
    out += [f"role:{r}" for r in roles]
    return out or ["any"]
