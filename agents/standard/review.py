"""Human review of the applicability facts before the council drafts.

With review on, a turn pauses after the facts and the obligations they select
(`graphs.compliance.review` calls LangGraph's `interrupt` with
`review_payload`). The reviewer answers in one of three ways, alone or
together:

* approve: ``"approve"`` (or ``"y"``, ``"批准"``, ``true``, ``{"approve": true}``);
* correct facts: ``"2=provider"``, ``"roles=provider,deployer"``,
  ``"data+=health"``, ``"data-=children"``, ``"internal_only=no"``, or
  ``{"facts": {"roles": ["provider"]}}`` (by the fact's number A1…A11, its key,
  or a singular like ``role``);
* leave a note for the experts: any other text, or ``{"note": "…"}``.

Parts of a text answer are separated by ``;`` or new lines
(``"2=provider; we also sell it in Germany"``). Corrections and notes approve
the rest. Anything that cannot be read is a `ReviewError` naming what is
wrong, so the reviewer can answer again; nothing is applied halfway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.standard.facts import fact
from agents.standard.requirements import fact_labels, fact_value_label, value_label
from agents.standard.types import FactDict, RequirementDict, ReviewDict
from prompts import load_json
from tools.catalogue.vocabulary import FACT_KEYS, FACT_SCHEMA
from tools.settings_registry import parse_bool

#: What the interrupt payload is, for clients that handle several kinds of interrupt.
PAYLOAD_KIND = "review_facts"
#: JSON Schema of a resume value (shown by clients that read `Interrupt.response_schema`).
ANSWER_SCHEMA: dict[str, Any] = {
    "title": "Review answer",
    "description": "'approve', edits like '2=provider; data+=health', a note for the experts, "
    "or an object with approve / facts / note.",
    "anyOf": [
        {"type": "string"},
        {"type": "boolean"},
        {
            "type": "object",
            "properties": {
                "approve": {"type": "boolean"},
                "facts": {"type": "object", "description": "fact number or key -> new value"},
                "note": {"type": "string", "description": "a note the experts read"},
            },
            "additionalProperties": False,
        },
    ],
}
_APPROVE = re.compile(
    r"^(y|yes|ok|okay|approve[ds]?|approve all|lgtm|accept(ed)?|confirm(ed)?|"
    r"是|好|批准|同意|确认|通过|无误)[.!。！]?$",
    re.IGNORECASE,
)
#: "2=provider", "roles += deployer", "A3 = healthcare" (an edit); anything else is a note.
_EDIT = re.compile(r"^\s*([A-Za-z_][\w ]{0,30}?|A?\d{1,2})\s*(\+=|-=|=)\s*(.*?)\s*$", re.IGNORECASE)
_EMPTY = frozenset({"", "none", "nothing", "no", "[]", "无", "没有", "空"})
#: Singular and short names a reviewer may use for a fact.
_ALIASES = {
    "jurisdiction": "jurisdictions",
    "country": "jurisdictions",
    "role": "roles",
    "use": "use_categories",
    "uses": "use_categories",
    "category": "use_categories",
    "categories": "use_categories",
    "high_risk": "use_categories",
    "practice": "prohibited",
    "prohibited_practices": "prohibited",
    "decisions": "automated_decisions",
    "kind": "system_kinds",
    "kinds": "system_kinds",
    "system_kind": "system_kinds",
    "public": "public_sector",
    "internal": "internal_only",
    "framework": "frameworks",
}


class ReviewError(ValueError):
    """A review answer that cannot be applied; the message says what to fix."""


@dataclass
class ReviewAnswer:
    """A reviewer's answer, read: corrections by fact key, and a note for the experts."""

    corrections: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def fact_number(key: str) -> int:
    """The fact's number in the report's assumptions table (A1 … A11) and the review table."""
    return FACT_KEYS.index(key) + 1


def review_payload(
    facts: Mapping[str, FactDict],
    requirements: Sequence[RequirementDict],
    language: str,
    error: str = "",
) -> dict[str, Any]:
    """What the reviewer sees: each fact (value, reason, source, choices) and the obligations it selects.

    JSON-safe, so the server can show it in Studio and return it to the SDK.
    """
    flab = fact_labels(language)
    text = review_labels(language)
    rows = []
    for key in FACT_KEYS:
        f = facts.get(key)
        if f is None:
            continue
        kind, allowed = FACT_SCHEMA[key]
        rows.append(
            {
                "number": fact_number(key),
                "key": key,
                "label": flab["keys"][key],
                "value": f["value"],
                # In the words of the report's assumptions table, which the reviewer is signing off.
                "shown": fact_value_label(key, f["value"], language),
                "reason": f["reason"],
                "source": f["source"],
                "source_label": flab["sources"].get(f["source"], f["source"]),
                "kind": kind,
                "choices": list(allowed) if allowed else [True, False],
            }
        )
    payload: dict[str, Any] = {
        "kind": PAYLOAD_KIND,
        "language": language,
        "question": text["question"],
        "how_to_answer": text["how_to_answer"],
        "facts": rows,
        "requirements": [
            {
                "number": r["number"],
                "id": r["id"],
                "instrument": r["instrument_name"],
                "article": r["article"],
                "statement": r["statement"],
                "because": r["because"],
            }
            for r in requirements
        ],
    }
    if error:
        payload["error"] = error
    return payload


def review_labels(language: str) -> dict[str, str]:
    """The review's fixed texts in `language`."""
    table: dict[str, dict[str, str]] = load_json("review_labels.json")
    return table.get(language, table["en"])


def parse_answer(answer: Any, facts: Mapping[str, FactDict], language: str = "en") -> ReviewAnswer:
    """Read a reviewer's answer (text, bool or object; see the module docstring).

    Raises:
        ReviewError: The answer is empty, names an unknown fact or value, or is not approve,
            corrections or a note.
    """
    if answer is True:
        return ReviewAnswer()
    if isinstance(answer, str):
        return _parse_text(answer, facts, language)
    if isinstance(answer, Mapping):
        return _parse_object(answer, facts, language)
    raise ReviewError(
        "a review answer is 'approve', edits like '2=provider', a note, or an object with "
        f"approve/facts/note, not {type(answer).__name__}"
    )


def _parse_text(text: str, facts: Mapping[str, FactDict], language: str) -> ReviewAnswer:
    parts = [p.strip() for p in re.split(r"[;；\n]", text) if p.strip()]
    if not parts:
        raise ReviewError("the review answer is empty: 'approve', edits like '2=provider', or a note")
    out = ReviewAnswer()
    notes: list[str] = []
    for part in parts:
        if _APPROVE.match(part):
            continue
        edit = _EDIT.match(part)
        key = _fact_key(edit.group(1)) if edit else None
        if edit and key is None and _looks_like_a_key(edit.group(1)):
            raise ReviewError(f"unknown fact {edit.group(1).strip()!r}: {_fact_names()}")
        if edit and key is not None:
            base = out.corrections.get(key, facts[key]["value"] if key in facts else None)
            out.corrections[key] = _edited(key, edit.group(2), edit.group(3), base, language)
        else:
            notes.append(part)
    out.note = _note("; ".join(notes))
    return out


def _parse_object(answer: Mapping[str, Any], facts: Mapping[str, FactDict], language: str) -> ReviewAnswer:
    unknown = sorted(set(answer) - {"approve", "facts", "note"})
    if unknown:
        raise ReviewError(
            f"unknown field(s) in the review answer: {', '.join(unknown)} (use approve, facts, note)"
        )
    if answer.get("approve") is False and not answer.get("facts") and not answer.get("note"):
        raise ReviewError("approve is false but nothing was corrected: give 'facts' to correct or a 'note'")
    out = ReviewAnswer(note=_note(answer.get("note") or ""))
    edits = answer.get("facts") or {}
    if not isinstance(edits, Mapping):
        raise ReviewError("'facts' must be an object: fact number or key -> new value")
    for name, value in edits.items():
        key = _fact_key(str(name))
        if key is None:
            raise ReviewError(f"unknown fact {name!r}: {_fact_names()}")
        out.corrections[key] = _value(key, value, language)
    if not out.corrections and not out.note and answer.get("approve") is not True:
        raise ReviewError("the review answer is empty: approve, facts to correct, or a note")
    return out


def _note(value: Any) -> str:
    if not isinstance(value, str):
        raise ReviewError("the note must be text")
    return " ".join(value.split())[:2000]


def _fact_key(name: str) -> str | None:
    """A fact key from its number ("2", "A2"), key, label-ish spelling or singular."""
    name = name.strip()
    number = re.fullmatch(r"[Aa]?(\d{1,2})", name)
    if number:
        i = int(number.group(1))
        return FACT_KEYS[i - 1] if 1 <= i <= len(FACT_KEYS) else None
    slug = re.sub(r"[\s-]+", "_", name.lower())
    return slug if slug in FACT_SCHEMA else _ALIASES.get(slug)


def _looks_like_a_key(name: str) -> bool:
    # "A12" or a single word before "=" is a mistyped fact; "see note = later" is a note.
    return bool(re.fullmatch(r"[Aa]?\d{1,2}|[A-Za-z_]+", name.strip()))


def _fact_names() -> str:
    return "use " + ", ".join(f"{fact_number(k)}/{k}" for k in FACT_KEYS)


def _edited(key: str, op: str, raw: str, base: Any, language: str) -> Any:
    if op != "=" and FACT_SCHEMA[key][0] != "list":
        raise ReviewError(f"{key} is one value: use '=' rather than '{op}'")
    value = _value(key, raw, language)
    if op == "=":
        return value
    current = list(base or [])
    if op == "+=":
        current += [v for v in value if v not in current]
    else:
        current = [v for v in current if v not in value]
    return _ordered(key, current)


def _value(key: str, raw: Any, language: str) -> Any:
    """`raw` as a valid value of fact `key` (ids or the report's words for them)."""
    kind, allowed = FACT_SCHEMA[key]
    if kind == "bool":
        try:
            return parse_bool(raw, key)
        except ValueError:
            raise ReviewError(f"{key} is yes or no, not {raw!r}") from None
    items = raw if isinstance(raw, list) else [] if raw is None else re.split(r"[,，、]", str(raw))
    words = [str(v).strip() for v in items if str(v).strip().lower() not in _EMPTY]
    values = [_choice(key, w, language) for w in words]
    if kind == "list":
        return _ordered(key, values)
    if len(values) != 1:
        raise ReviewError(f"{key} takes exactly one value: {', '.join(allowed)}")
    return values[0]


def _choice(key: str, word: str, language: str) -> str:
    allowed = FACT_SCHEMA[key][1]
    lowered = word.lower().replace(" ", "_")
    for value in allowed:
        names = {value.lower(), value.split(":")[-1].lower()}
        names |= {value_label(key, value, lang).lower().replace(" ", "_") for lang in ("en", "zh", language)}
        if lowered in names:
            return value
    raise ReviewError(f"{key}: unknown value {word!r}; choose from {', '.join(allowed)}")


def _ordered(key: str, values: Sequence[str]) -> list[str]:
    return [v for v in FACT_SCHEMA[key][1] if v in values]


def apply_review(
    facts: Mapping[str, FactDict], answer: ReviewAnswer, language: str
) -> tuple[dict[str, FactDict], ReviewDict]:
    """The facts with the reviewer's corrections (source: you), and the review's record for the report."""
    reason = review_labels(language)["corrected_reason"]
    out = dict(facts)
    corrected: list[str] = []
    for key, value in answer.corrections.items():
        old = facts.get(key)
        if old is not None and old["value"] == value:
            continue
        if key == "data" and value:
            # Health or biometric data is special-category data, and all of it is personal data.
            extra = ["personal"] + (["special_category"] if {"health", "biometric"} & set(value) else [])
            value = _ordered(key, [*value, *extra])
        out[key] = fact(key, value, reason, "user")
        corrected.append(key)
    record: ReviewDict = {
        "status": "corrected" if corrected else "approved",
        "corrected": corrected,
        "note": answer.note,
    }
    return out, record
