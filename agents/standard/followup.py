"""A follow-up revises the standard: it corrects facts and asks to tighten or relax topics.

"we are the provider", "不涉及健康数据", "we only operate in the US now" change
facts (source: user); "请把其中关于数据隐私的部分写得更严格" or "make human
oversight stricter" add topics whose stricter catalogue entries then apply.
The thread's task stays the title; the obligations are re-derived from the
corrected facts, and the report lists what changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.standard.facts import REASONS, derive_facts, fact, find_hits, load_lexicon
from agents.standard.types import FactDict
from tools.catalogue.schema import TOPICS
from tools.catalogue.vocabulary import FACT_KEYS, FACT_SCHEMA

_STRICTER = re.compile(
    r"strict|tighten|tighter|strengthen|stronger|more rigorous|firmer|more robust|harden|raise the bar|"
    r"更严|严格|从严|加强|强化|收紧|提高.{0,4}要求|更高.{0,4}标准|更完善|更全面",
    re.IGNORECASE,
)
_LOOSER = re.compile(
    r"less strict|looser|loosen|relax|lighter|too strict|simplif|放宽|宽松|简化|过于严格|太严",
    re.IGNORECASE,
)
#: Topic -> words that name it in a follow-up.
_TOPIC_WORDS: dict[str, re.Pattern[str]] = {
    "data": re.compile(
        r"privacy|data protection|personal (data|information)|\bdata\b|gdpr|pipl|retention|minimi[sz]|"
        r"representativ|population|隐私|数据|个人信息|个保|保存期限|最小化|代表性|人群",
        re.IGNORECASE,
    ),
    "security": re.compile(r"secur|cyber|encrypt|attack|安全|加密|攻击|网络安全", re.IGNORECASE),
    "oversight": re.compile(
        r"oversight|human review|human in the loop|human control|appeal|contest|redress|override|"
        r"人工监督|人工复核|人工审核|人工干预|人类监督|申诉|复议|复核",
        re.IGNORECASE,
    ),
    "transparency": re.compile(
        r"transparen|explain|explanation|disclos|inform (users|people)|notice|label|"
        r"透明|解释|告知|披露|标识|说明",
        re.IGNORECASE,
    ),
    "testing": re.compile(
        r"test|evaluat|validat|audit|monitor|measur|测试|评估|验证|审计|监测|检测", re.IGNORECASE
    ),
    "fairness": re.compile(r"fair|bias|discriminat|equal|公平|偏见|歧视|平等", re.IGNORECASE),
    "incident": re.compile(
        r"incident|breach|report(ing)? to|emergenc|事件|泄露|应急|通报|报告", re.IGNORECASE
    ),
    "governance": re.compile(
        r"governance|accountab|management system|policy|roles|治理|问责|管理体系|制度|职责", re.IGNORECASE
    ),
    "content": re.compile(r"content|output|generated|moderat|内容|生成|输出|审核", re.IGNORECASE),
}
_ONLY = re.compile(r"\bonly\b|\bjust\b|\bexclusively\b|仅|只|只在|仅在|唯一", re.IGNORECASE)
_ALSO = re.compile(
    r"\balso\b|\btoo\b|\bas well\b|\badditionally\b|\bin addition\b|也|同时|另外|还", re.IGNORECASE
)
#: Facts a follow-up's negation does not remove (a use is not undone by "don't reject anyone");
#: only the legal exceptions of their rules (`unless`) or "not high-risk" take them away.
_NO_REMOVAL_BY_NEGATION = frozenset({"use_categories", "prohibited", "sector"})
_EXCEPTIONS = frozenset({"use_categories", "prohibited"})
#: Words that deny a use outright ("it is not used for hiring", "不涉及人寿保险"): then a negated use goes.
_SCOPE_DENIAL = re.compile(
    r"\bnot (used |meant |intended )?for\b|"
    r"\b(does not|doesn't|do not|don't|will not|won't) (involve|cover|include)|"
    r"\bno longer\b|\bnever used for\b|不涉及|不用于|不再|并不用于|不属于|不包括|只用于|仅用于",
    re.IGNORECASE,
)
#: A general-purpose model offered as a service generates content for people.
_SERVICE = re.compile(r"\bAPI\b|\bapps?\b|\bchat|\bservice|接口|服务|应用|助手|对话", re.IGNORECASE)
_NOT_HIGH_RISK = re.compile(
    r"not (a )?high[- ]risk|isn'?t high[- ]risk|no longer high[- ]risk|不是高风险|不属于高风险|非高风险",
    re.IGNORECASE,
)


@dataclass
class FollowUp:
    """What a follow-up changes: corrected facts, topics to tighten or relax, and why."""

    facts: dict[str, FactDict]
    corrected: list[str] = field(default_factory=list)
    tighten: list[str] = field(default_factory=list)
    relax: list[str] = field(default_factory=list)


def requested_topics(text: str) -> tuple[list[str], list[str]]:
    """The topics `text` asks to tighten and to relax (all topics for a bare "make it stricter")."""
    named = [t for t, pattern in _TOPIC_WORDS.items() if pattern.search(text)]
    if _LOOSER.search(text):
        return [], named or list(TOPICS)
    if _STRICTER.search(text):
        return named or list(TOPICS), []
    return [], []


def apply_follow_up(previous: Mapping[str, FactDict], text: str, language: str, task: str = "") -> FollowUp:
    """Correct the thread's facts with what a follow-up says, and read what it asks to tighten.

    Values the follow-up states are added (roles, and jurisdictions in a
    correction — "actually", "only", "we no longer …" — replace the old ones
    unless it says "also"); values it negates are removed. Everything it does
    not mention keeps its old value, reason and source.

    Args:
        previous: The thread's facts so far.
        text: The follow-up message.
        language: The thread's language (for the reasons).
        task: The thread's task, for context (an organisation that builds what it runs).
    """
    lexicon = load_lexicon()
    blank = derive_facts("", language)
    facts: dict[str, FactDict] = {k: previous.get(k) or blank[k] for k in FACT_KEYS}
    said = f'you said: "{_clip(text)}"' if language != "zh" else f"您说明：“{_clip(text)}”"
    hits = [h for h in find_hits(text, lexicon) if not h.rule.weak]
    found: dict[str, tuple[set[Any], set[Any]]] = {k: (set(), set()) for k in FACT_KEYS}
    for hit in hits:
        add, remove = found[hit.rule.fact]
        (remove if hit.negated else add).add(hit.rule.value)
    for rule in lexicon.rules:
        # A legal exception the follow-up now states ("it only supports the investigator's own
        # assessment") takes the value away, as it would have kept it out of the task.
        if rule.unless and rule.fact in _EXCEPTIONS and any(p.search(text) for p in rule.unless):
            found[rule.fact][1].add(rule.value)
    also = bool(_ALSO.search(text))
    out = FollowUp(facts={})
    for key in FACT_KEYS:
        add, remove = found[key]
        if key in _NO_REMOVAL_BY_NEGATION and not _SCOPE_DENIAL.search(text):
            # "I don't want any candidate rejected …" is about oversight, not about hiring.
            remove = {v for v in remove if not any(h.negated and h.rule.value == v for h in hits)} | (
                remove & _exception_values(lexicon, key, text)
            )
        if key == "roles" and "provider" in add:
            # "We built it, we did not buy it": the denied purchase does not end its use.
            remove = remove - {"deployer"}
        kind = FACT_SCHEMA[key][0]
        old = previous.get(key)
        value: Any = old["value"] if old else ([] if kind == "list" else False)
        new: Any = value
        if kind == "list":
            current = [v for v in value if v not in remove]
            if key == "roles" and add and not also:
                # "We built it ourselves": the organisation becomes the provider and keeps
                # the roles it had (deployer, importer, distributor: Art. 25 role shift).
                # "We only use it": the new role replaces the old.
                keep = {"deployer", "importer", "distributor"} if "provider" in add else set()
                current = [v for v in value if v in keep]
            if (
                key == "jurisdictions"
                and add
                and not also
                and (_ONLY.search(text) or lexicon.cue("correction", text))
            ):
                current = []
            current = [v for v in current if v not in remove]
            current += [v for v in FACT_SCHEMA[key][1] if v in add and v not in current]
            if key == "roles" and "provider" in add and "deployer" not in current:
                # A correction to "we built it" keeps the deployer when the organisation also runs it.
                context = f"{task}\n{text}"
                if lexicon.cue("own_use", context) and not lexicon.cue("b2b", context):
                    current.append("deployer")
            if key == "data" and remove & {"health", "biometric"} and "special_category" not in add:
                current = [v for v in current if v != "special_category"]
            if key == "data" and "personal" in remove:
                current = []
            if key == "data" and current and "personal" not in current:
                current.insert(0, "personal")
            if key == "system_kinds":
                current = _complete_kinds(current, text)
            if key == "use_categories" and _NOT_HIGH_RISK.search(text):
                current = []
            new = [v for v in FACT_SCHEMA[key][1] if v in current]
        elif kind == "bool":
            new = False if True in remove else True if True in add else value
            if key == "internal_only" and lexicon.cue("public_facing", text):
                new = False  # the follow-up opens the tool to outsiders
        elif add:
            new = sorted(add, key=FACT_SCHEMA[key][1].index)[0]
        if new != value:
            facts[key] = fact(key, new, said, "user")
            out.corrected.append(key)
    # A chatbot opened to outsiders talks with people: their messages are personal data.
    kinds_now = facts["system_kinds"]["value"]
    if "chatbot" in kinds_now and not facts["data"]["value"] and not facts["internal_only"]["value"]:
        facts["data"] = fact("data", ["personal"], said, "user")
        out.corrected.append("data")
    # A correction of jurisdiction can take the EU away: its categories go with it.
    if "eu" not in facts["jurisdictions"]["value"]:
        for key in ("use_categories", "prohibited"):
            if facts[key]["value"]:
                facts[key] = fact(key, [], REASONS.get(language, REASONS["en"])["eu_only"], "user")
                out.corrected.append(key)
    out.facts = {k: facts[k] for k in FACT_KEYS}
    out.tighten, out.relax = requested_topics(text)
    return out


def _exception_values(lexicon: Any, key: str, text: str) -> set[Any]:
    return {
        r.value for r in lexicon.rules if r.fact == key and r.unless and any(p.search(text) for p in r.unless)
    }


def _complete_kinds(kinds: list[str], text: str) -> list[str]:
    """What one kind of system implies of another, after a follow-up changed them."""
    out = list(kinds)
    if ("chatbot" in out or "deepfake" in out) and "generated_content" not in out:
        out.append("generated_content")
    if "gpai_systemic_risk" in out and "gpai_model" not in out:
        out.append("gpai_model")
    if "gpai_model" in out and "generated_content" not in out and _SERVICE.search(text):
        out.append("generated_content")
    return out


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
