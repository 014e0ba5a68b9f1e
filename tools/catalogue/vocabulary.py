"""The words facts and obligations share: fact keys, their values, and the tags conditions use.

Applicability facts (agents/standard/facts.py) describe a task with the values
below; `tags_for` turns them into flat tags (``eu``, ``deployer``,
``high_risk``, ``data:health``, ``kind:chatbot`` …), and each catalogue
obligation says when it applies as a condition over those tags
(``when = {all = ["eu", "high_risk"], any = [...], none = [...]}``). Keeping
the vocabulary here, beside the catalogue, lets the loader reject a condition
that names a tag no fact can produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Where the organisation or its system is subject to law.
JURISDICTIONS: tuple[str, ...] = ("eu", "cn", "us", "other")
#: The organisation's role(s) for the system (EU AI Act Art. 3 terms).
ROLES: tuple[str, ...] = ("provider", "deployer", "importer", "distributor", "gpai_provider")
#: The field the system is used in (informational; conditions may use ``sector:<name>``).
SECTORS: tuple[str, ...] = (
    "healthcare",
    "employment",
    "credit",
    "insurance",
    "education",
    "public_services",
    "law_enforcement",
    "migration",
    "justice",
    "elections",
    "critical_infrastructure",
    "retail",
    "media",
    "transport",
    "customer_service",
    "general",
)
#: EU AI Act high-risk routes: the eight Annex III areas and Annex I products (Art. 6(1)).
USE_CATEGORIES: tuple[str, ...] = (
    "annex3:biometrics",
    "annex3:critical_infrastructure",
    "annex3:education",
    "annex3:employment",
    "annex3:essential_services",
    "annex3:law_enforcement",
    "annex3:migration",
    "annex3:justice",
    "annex1:product",
)
#: EU AI Act Art. 5(1) prohibited practices, points (a)-(h).
PROHIBITED: tuple[str, ...] = (
    "manipulation",
    "exploiting_vulnerabilities",
    "social_scoring",
    "crime_prediction_profiling",
    "facial_scraping",
    "emotion_recognition_workplace_education",
    "biometric_categorisation_sensitive",
    "realtime_remote_biometric_id_law_enforcement",
)
#: Kinds of data the system processes about people.
DATA: tuple[str, ...] = ("personal", "special_category", "health", "biometric", "children")
#: Kinds of system that carry their own duties (transparency, GPAI, biometrics).
SYSTEM_KINDS: tuple[str, ...] = (
    "chatbot",
    "generated_content",
    "deepfake",
    "emotion_recognition",
    "biometric_categorisation",
    "remote_biometric_id",
    "gpai_model",
    "gpai_systemic_risk",
)

#: Voluntary frameworks a task can ask the standard to follow (catalogue instrument ids).
FRAMEWORKS: tuple[str, ...] = ("iso-iec-42001", "nist-ai-rmf", "oecd-ai-principles")

#: Fact key -> (kind, allowed values). Kinds: "list" (a set of values), "bool", "str".
FACT_SCHEMA: dict[str, tuple[str, tuple[str, ...]]] = {
    "jurisdictions": ("list", JURISDICTIONS),
    "roles": ("list", ROLES),
    "sector": ("str", SECTORS),
    "use_categories": ("list", USE_CATEGORIES),
    "prohibited": ("list", PROHIBITED),
    "data": ("list", DATA),
    "automated_decisions": ("bool", ()),
    "system_kinds": ("list", SYSTEM_KINDS),
    "public_sector": ("bool", ()),
    "internal_only": ("bool", ()),
    "frameworks": ("list", FRAMEWORKS),
}
FACT_KEYS: tuple[str, ...] = tuple(FACT_SCHEMA)

#: Tags computed from several facts at once.
DERIVED_TAGS: tuple[str, ...] = (
    "high_risk",  # EU, and an Annex III area or an Annex I product
    "prohibited",  # EU, and any Art. 5 practice
    "not_high_risk",  # EU, and neither high-risk nor prohibited (minimal or limited risk)
    "personal_data",  # any kind of data about people
    "automated_decisions",
    "public_sector",
    "internal_only",  # used only inside the organisation, not offered to the public or customers
    "any",  # every task: for baseline controls of voluntary frameworks
)


def all_tags() -> frozenset[str]:
    """Every tag a set of facts can produce: what catalogue conditions may name."""
    tags = set(DERIVED_TAGS) | set(JURISDICTIONS) | set(ROLES) | set(USE_CATEGORIES)
    tags |= {f"sector:{s}" for s in SECTORS}
    tags |= {f"prohibited:{p}" for p in PROHIBITED}
    tags |= {f"data:{d}" for d in DATA}
    tags |= {f"kind:{k}" for k in SYSTEM_KINDS}
    return frozenset(tags)


#: Roles assumed when a task does not say: a standard for an unknown role covers both sides.
UNKNOWN_ROLES: tuple[str, ...] = ("provider", "deployer")


def effective_roles(values: Mapping[str, Any]) -> set[str]:
    """The roles whose duties apply: the stated ones, or provider and deployer when none is stated."""
    roles = {str(r) for r in values.get("roles") or []}
    return roles or set(UNKNOWN_ROLES)


def tags_for(values: Mapping[str, Any]) -> frozenset[str]:
    """The tags of a task, from its fact values (key -> value, as in `FACT_SCHEMA`).

    Args:
        values: Fact values; a missing key counts as empty / false.

    Returns:
        Tags such as ``eu``, ``deployer``, ``annex3:employment``, ``high_risk``,
        ``data:health``, ``personal_data``, ``kind:chatbot``, ``sector:credit``.
    """

    def listed(key: str) -> list[str]:
        value = values.get(key) or []
        return [str(v) for v in value] if isinstance(value, list | tuple | set | frozenset) else [str(value)]

    tags: set[str] = {"any"}
    tags |= set(listed("jurisdictions")) | effective_roles(values) | set(listed("use_categories"))
    if values.get("sector"):
        tags.add(f"sector:{values['sector']}")
    tags |= {f"prohibited:{p}" for p in listed("prohibited")}
    tags |= {f"data:{d}" for d in listed("data")}
    tags |= {f"kind:{k}" for k in listed("system_kinds")}
    if listed("data"):
        tags.add("personal_data")
    if values.get("automated_decisions"):
        tags.add("automated_decisions")
    if values.get("public_sector"):
        tags.add("public_sector")
    if values.get("internal_only"):
        tags.add("internal_only")
    if "eu" in tags:
        if listed("prohibited"):
            tags.add("prohibited")
        if listed("use_categories"):
            tags.add("high_risk")
        if not listed("prohibited") and not listed("use_categories"):
            tags.add("not_high_risk")
    return frozenset(tags)
