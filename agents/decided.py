"""What earlier turns of a thread decided, as one compact block for every model prompt.

A follow-up must cost about what a first turn costs. Earlier turns therefore
reach the models as what they decided (the user's earlier requests, the facts
the user corrected, the topics made stricter, how many requirements were
adopted and what this turn changed, the open questions), never as earlier
reports, and always under an explicit token budget (a share of the context
window), so a long thread cannot fill the window and multiply prefill time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.history import approx_tokens
from agents.report import clip
from agents.standard.requirements import fact_labels, fact_value_label
from agents.standard.types import ChangeDict, FactDict, RequirementDict
from prompts import load_json

#: Characters kept of each earlier request: what was asked, not what was pasted.
REQUEST_CHARS = 200
#: Changed requirement ids listed before the rest are counted.
MAX_IDS = 12


def _labels(language: str) -> dict[str, str]:
    table: dict[str, dict[str, str]] = load_json("decided_labels.json")
    return table.get(language, table["en"])


def decided_block(
    *,
    language: str,
    earlier_requests: Sequence[str],
    facts: Mapping[str, FactDict],
    corrected: Sequence[str] = (),
    strict_topics: Sequence[str] = (),
    previous_requirements: Sequence[RequirementDict] = (),
    changes: Sequence[ChangeDict] = (),
    budget_tokens: int,
) -> str:
    """The "decided so far" block of a follow-up, within `budget_tokens` (empty on a first turn).

    Args:
        language: The thread's language (``en`` or ``zh``).
        earlier_requests: The user's follow-up requests before this one, oldest first.
        facts: The thread's current facts (corrected ones are named with their values).
        corrected: Keys of facts the user has corrected.
        strict_topics: Topics the user asked to tighten, in all turns so far.
        previous_requirements: The requirements adopted before this turn.
        changes: What this turn changed against them.
        budget_tokens: The most (estimated) tokens the block may take.

    Returns:
        The block, or "" when nothing was decided before or the budget is too small for it.
    """
    if not previous_requirements and not earlier_requests:
        return ""
    lab = _labels(language)
    sep = "、" if language == "zh" else ", "
    names = fact_labels(language)["keys"]
    fixed: list[str] = [lab["heading"]]
    shown_corrected = [
        f"{names.get(k, k)}: {fact_value_label(k, facts[k]['value'], language)}"
        for k in corrected
        if k in facts
    ]
    if shown_corrected:
        fixed.append(f"- {lab['corrected']}: " + "; ".join(shown_corrected))
    if strict_topics:
        fixed.append(f"- {lab['strict']}: " + sep.join(strict_topics))
    if changes:
        rest = len(changes) - MAX_IDS
        tail = f" (+{rest} {lab['more']})" if rest > 0 else ""
        fixed.append(
            f"- {lab['changes']}: " + sep.join(f"{c['kind']} {c['id']}" for c in changes[:MAX_IDS]) + tail
        )
    open_questions = [k for k, f in facts.items() if f.get("value") in (None, [], "", "unknown")]
    if open_questions:
        fixed.append(f"- {lab['open']}: " + sep.join(names.get(k, k) for k in open_questions))
    if previous_requirements:
        # A count, not the ids: the current requirements are in the prompt already.
        fixed.append(f"- {lab['adopted']}: {len(previous_requirements)}")
    # Lines are in order of importance: the least important go first when the budget is short.
    while len(fixed) > 1 and _cost(fixed) > budget_tokens:
        fixed.pop()
    used = _cost(fixed) + _cost([lab["requests"]])
    # The newest requests matter most: the oldest are dropped first.
    requests: list[str] = []
    for text in reversed(earlier_requests):
        line = f"  - {clip(text, REQUEST_CHARS)}"
        if used + _cost([line]) > budget_tokens:
            break
        requests.insert(0, line)
        used += _cost([line])
    if requests:
        fixed += [f"- {lab['requests']}:", *requests]
    return "\n".join(fixed) if len(fixed) > 1 and _cost(fixed) <= budget_tokens else ""


def _cost(lines: Sequence[str]) -> int:
    return sum(approx_tokens(line) + 1 for line in lines)


def earlier_requests(messages: Sequence[Any], task: str) -> list[str]:
    """The user's requests before the newest message, without the thread's task itself."""
    texts = [m.text.strip() for m in messages[:-1] if getattr(m, "type", "") == "human"]
    return [t for t in texts if t and t != task.strip()]
