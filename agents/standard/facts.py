"""Applicability facts: what the task says about where, who, what use, what data, what kind of system.

Facts are derived by rules (`lexicon.toml`: English and Chinese words of the
field, with negation: "no health data" sets nothing), then completed by what
the law implies (health data is special-category data; CV screening decides
about people), so they work on any model. A capable model can refine them
(`agents.standard.refine`), a follow-up can correct them
(`agents.standard.followup`), and each fact keeps a one-line reason and its
source, which the report shows as its "Applicability assumptions".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from agents.standard.types import FactDict, FactSource
from tools.catalogue.vocabulary import FACT_KEYS, FACT_SCHEMA

LEXICON = Path(__file__).with_name("lexicon.toml")

#: Words after which a negation no longer reaches the match ("no bias in hiring" is about hiring).
_SCOPE_BREAKERS = frozenset(
    [
        "in",
        "of",
        "for",
        "against",
        "to",
        "on",
        "at",
        "by",
        "with",
        "from",
        "towards",
        "toward",
        "about",
        "among",
        "but",
        "however",
        "and",
        "or",
    ]
)
_EN_WINDOW = 4  # words between a negation cue and what it negates
_ZH_WINDOW = 8  # characters, the same for Chinese
_CLAUSE = re.compile(r"[.;!?。；！？\n]|\bbut\b|\bhowever\b|但是|但|而是|只是|不过")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class Rule:
    """One lexicon rule: patterns that set `value` of fact `fact`."""

    fact: str
    value: Any
    patterns: tuple[re.Pattern[str], ...]
    with_: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    strength: str  # "" (plain), "build", "offer" or "weak": see lexicon.toml

    @property
    def weak(self) -> bool:
        """Whether the rule only counts when nothing stronger says the same."""
        return self.strength == "weak"


@dataclass(frozen=True)
class Lexicon:
    """The rules, the negation cues and the context cues."""

    rules: tuple[Rule, ...]
    negation_en: tuple[str, ...]
    negation_zh: tuple[str, ...]
    cues: dict[str, tuple[re.Pattern[str], ...]]
    place_en: tuple[str, ...] = ()
    place_zh: tuple[str, ...] = ()

    def cue(self, name: str, text: str) -> re.Match[str] | None:
        """The first match of context cue `name` (own_use, b2b, correction) in `text`."""
        for pattern in self.cues.get(name, ()):
            match = pattern.search(text)
            if match:
                return match
        return None


def _english(pattern: str) -> str:
    """`pattern` with each space outside a character class matching a space or a hyphen.

    "face recognition", "face-recognition" and "face  recognition" are the same words.
    """
    out: list[str] = []
    in_class = escaped = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "[" and not in_class:
            in_class = True
            out.append(ch)
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        elif ch == " " and not in_class:
            out.append(r"[\s-]")
        else:
            out.append(ch)
    return "".join(out)


def _compile(en: Iterable[str] = (), zh: Iterable[str] = ()) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in [*(_english(p) for p in en), *zh])


@cache
def load_lexicon(path: Path = LEXICON) -> Lexicon:
    """Read and compile the lexicon (once per process).

    Raises:
        ValueError: for a rule naming an unknown fact or value.
    """
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rules = []
    for raw in data["rule"]:
        fact, value = raw["fact"], raw["value"]
        kind, allowed = FACT_SCHEMA.get(fact, ("", ()))
        if not kind or (kind != "bool" and value not in allowed):
            raise ValueError(f"{path.name}: rule for unknown fact or value {fact}={value!r}")
        rules.append(
            Rule(
                fact=fact,
                value=value,
                patterns=_compile(raw.get("en", []), raw.get("zh", [])),
                with_=_compile(raw.get("with_en", []), raw.get("with_zh", [])),
                unless=_compile(raw.get("unless_en", []), raw.get("unless_zh", [])),
                strength=str(raw.get("strength", "")),
            )
        )
    negation = data["negation"]
    names = {k.rsplit("_", 1)[0] for k in data.get("cues", {})}
    cues = {n: _compile(data["cues"].get(f"{n}_en", []), data["cues"].get(f"{n}_zh", [])) for n in names}
    return Lexicon(
        tuple(rules),
        tuple(negation["en"]),
        tuple(negation["zh"]),
        cues,
        tuple(negation.get("place_en", [])),
        tuple(negation.get("place_zh", [])),
    )


# -- matching ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """Where a rule matched, and whether a negation governs it."""

    rule: Rule
    text: str
    negated: bool


#: "发给新加坡的再保险公司": where data is sent to, not where the system is used.
_SENT_TO = re.compile(r"(发给|传给|传至|传到|传输到|发送到|提供给|转给)$")
#: "hosted in AWS's Ireland region", "部署在总部法兰克福的云上": where servers are, not where people are.
_HOSTED_BEFORE = re.compile(
    r"(\b(hosted|hosting|stored|storage|servers?|cloud)\b[^.;]{0,25}\b(in|on|at)\s+"
    r"(the\s+)?((AWS|Azure|Google|GCP|Alibaba|Tencent)('s)?\s+)?"
    r"|\b(AWS|Azure|Google Cloud|GCP)('s)?\s+"
    r"|(部署在|存储在|存放在|放在|托管在|服务器在|机房在)(总部|集团)?)$",
    re.IGNORECASE,
)
# (Running data centres somewhere is doing business there: only where data or servers are kept counts.)
_HOSTED_AFTER = re.compile(r"(\s+cloud region\b|的?(云|服务器|机房))", re.I)
#: A legal label the user asks about is a question, not a fact: "whether this is the banned
#: 'emotion recognition at work'", "does this make us a general-purpose AI model provider?",
#: "does hosting in Ireland pull us under EU rules?".
_ASKED_BEFORE = re.compile(
    r"(\b(whether|if)\b[^.?!]{0,40}['\"“‘]|\b(make|makes|making) (us|it|them) (an? |the )?"
    r"|\b(count|counts|qualify|qualifies|considered|classed|classified) as (an? |the )?"
    r"|\b(pull|pulls|bring|brings|put|puts) (us|it|them) (under|within|into) (the )?)$",
    re.IGNORECASE,
)
_QUESTION_END = re.compile(r"[^.!?。！？]*[?？]")


def _asked_about(text: str, start: int, end: int) -> bool:
    """Whether the words at ``text[start:end]`` name a label the sentence asks about."""
    before = re.split(r"[.!?。！？]", text[max(0, start - 60) : start])[-1]
    match = _ASKED_BEFORE.search(before)
    if match is None:
        return False
    # A quoted label after "whether" is asked about; the others only in a question.
    return match.group(0).lower().startswith(("whether", "if")) or bool(_QUESTION_END.match(text, end))


#: "从深圳一家厂商进口": bought from a maker there.
_ZH_FROM_MAKER = re.compile(r".{0,6}(厂商|厂家|公司|供应商|工厂|企业)")
#: "一家德国汽车零部件集团上海子公司": the parent group's country, not the subsidiary's.
_PARENT_AFTER = re.compile(r".{0,12}(集团|公司|企业)(在)?.{0,8}(子公司|分公司|工厂)")
#: "we host exchange students from Germany": people visiting from a country do not bring its law.
_VISITORS_FROM = re.compile(
    r"\b(host|hosts|hosting|exchange|visiting|visitors?|tourists?)\b[^.;]{0,40}\bfrom\s+(the\s+)?"
    r"([A-Z][\w-]+(,\s+|\s+and\s+|\s+or\s+))*$"
)
_MAKER_AFTER = re.compile(
    r"\s+(\w+\s+){0,2}(manufacturer|maker|vendor|supplier|developer|company|firm|provider|group|"
    r"parent|corporation|multinational)s?\b",
    re.I,
)
_FROM_BEFORE = re.compile(r"\b(from|by|of)\s+(an?|the)\s+$", re.IGNORECASE)
_ORIGIN_ONLY = re.compile(r"(-(made|built|developed|designed|manufactured)|\s+made)\b", re.IGNORECASE)


def _clause_prefix(text: str, start: int) -> str:
    prefix = text[:start]
    boundaries = list(_CLAUSE.finditer(prefix))
    return prefix[boundaries[-1].end() :] if boundaries else prefix


def _cue_at(window: list[str], i: int, size: int, cues: tuple[str, ...]) -> bool:
    cue = " ".join(window[i : i + size])
    return cue in cues or any(re.fullmatch(c, cue) for c in cues if "\\" in c)


def is_negated(text: str, start: int, lexicon: Lexicon, *, place: bool = False) -> bool:
    """Whether the match at `start` is governed by a negation cue just before it, in its clause.

    Args:
        text: The whole text.
        start: Where the match begins.
        lexicon: The negation cues.
        place: The match names a place: leaving words negate it too ("sold our EU
            business"), and a preposition between does not end the negation
            ("no stores in the EU").
    """
    prefix = _clause_prefix(text, start)
    if prefix.endswith(("不", "未", "没", "非", "无")):
        return True  # "不提供", "未使用": a Chinese negation right before the words
    zh_cues = (*lexicon.negation_zh, *lexicon.place_zh) if place else lexicon.negation_zh
    # Chinese: a cue within a few characters, with no other clause between.
    tail = prefix[-_ZH_WINDOW:]
    if any(cue in tail for cue in zh_cues):
        return True
    if _CJK.search(prefix[-3:] if prefix else ""):
        return False
    en_cues = (*lexicon.negation_en, *lexicon.place_en) if place else lexicon.negation_en
    words = [w.lower().replace("’", "'") for w in _WORD.findall(prefix)]
    window = words[-(_EN_WINDOW + 2) :]
    for size in (3, 2, 1):
        for i in range(len(window) - size, -1, -1):
            if not _cue_at(window, i, size, en_cues):
                continue
            between = window[i + size :]
            if len(between) > _EN_WINDOW:
                continue
            last = window[i + size - 1]
            ends_with_preposition = last in _SCOPE_BREAKERS or last in ("outside", "except")
            if not place and not ends_with_preposition and any(w in _SCOPE_BREAKERS for w in between):
                continue
            # "don't sell outside the US": a negated "outside" or "except" cancels out.
            if last in ("outside", "except", "without"):
                before = window[max(0, i - 3) : i]
                return not any(w in ("not", "don't", "doesn't", "never", "won't", "no") for w in before)
            return True
    return False


def find_hits(text: str, lexicon: Lexicon | None = None) -> list[Hit]:
    """Every rule that matches `text`, with the first matching words and their negation."""
    lexicon = lexicon or load_lexicon()
    hits: list[Hit] = []
    for rule in lexicon.rules:
        if rule.with_ and not any(p.search(text) for p in rule.with_):
            continue
        if rule.unless and any(p.search(text) for p in rule.unless):
            continue
        positive: Hit | None = None
        negative: Hit | None = None
        for pattern in rule.patterns:
            for match in pattern.finditer(text):
                if rule.fact == "jurisdictions" and (
                    _ORIGIN_ONLY.match(text, match.end())
                    or (_MAKER_AFTER.match(text, match.end()) and _FROM_BEFORE.search(text[: match.start()]))
                    or _SENT_TO.search(text[max(0, match.start() - 4) : match.start()])
                    or _VISITORS_FROM.search(text[max(0, match.start() - 60) : match.start()])
                    or _HOSTED_BEFORE.search(text[max(0, match.start() - 60) : match.start()])
                    or _HOSTED_AFTER.match(text, match.end())
                    or _PARENT_AFTER.match(text, match.end())
                    or (
                        text[match.start() - 1 : match.start()] == "从"
                        and _ZH_FROM_MAKER.match(text, match.end())
                    )
                ):
                    continue  # "a US-made tool", "from a Japanese manufacturer": where it comes from
                if _asked_about(text, match.start(), match.end()):
                    continue
                words = match.group(0).strip()
                if is_negated(text, match.start(), lexicon, place=rule.fact == "jurisdictions"):
                    negative = negative or Hit(rule, words, True)
                else:
                    positive = positive or Hit(rule, words, False)
                    break
            if positive:
                break
        # An explicit "no health data" beats an inference from "patients" elsewhere.
        if negative:
            hits.append(negative)
        elif positive:
            hits.append(positive)
    return hits


# -- facts ---------------------------------------------------------------------------------

REASONS: dict[str, dict[str, str]] = {
    "en": {
        "mentions": 'the task says "{words}"',
        "negated": 'the task says "{words}" is not the case',
        "not_stated": "the task does not say",
        "implied_health": "health data is special-category data (GDPR Art. 9)",
        "implied_biometric": "biometric data used to identify people is special-category data (GDPR Art. 9)",
        "implied_personal": "the system processes information about identifiable people ({why})",
        "implied_decisions": "the use ({why}) decides about people with legal or similarly significant "
        "effects",
        "implied_kind": "follows from the kind of system ({why})",
        "implied_generated": "a chatbot writes its replies: generated text ({why})",
        "eu_only": "an EU AI Act category; the task names no EU link",
        "roles_unknown": "the task does not say; the duties of both providers and deployers are included",
        "own_use": 'the organisation also uses what it builds ("{words}")',
        "gpai": 'a general-purpose model is trained or released ("{words}")',
        "sector_default": "no specific sector named",
    },
    "zh": {
        "mentions": "任务提到“{words}”",
        "negated": "任务说明不涉及“{words}”",
        "not_stated": "任务未说明",
        "implied_health": "健康数据属于特殊类别数据（GDPR第9条）",
        "implied_biometric": "用于识别身份的生物特征数据属于特殊类别数据（GDPR第9条）",
        "implied_personal": "系统处理可识别个人的信息（{why}）",
        "implied_decisions": "该用途（{why}）会对个人作出具有法律效果或类似重大影响的决定",
        "implied_kind": "由系统类型推出（{why}）",
        "implied_generated": "聊天机器人生成其回复内容（{why}）",
        "eu_only": "属于欧盟《人工智能法》的分类；任务未涉及欧盟",
        "roles_unknown": "任务未说明；同时纳入提供者和部署者的义务",
        "own_use": "本组织也使用其开发的系统（“{words}”）",
        "gpai": "训练或发布通用模型（“{words}”）",
        "sector_default": "未指明具体行业",
    },
}

#: Uses that decide about people (Annex III areas whose decisions have significant effects). Not
#: justice: it also covers tools that assist a judge or sway voters, which decide about no one.
_DECIDING_USES = (
    "annex3:employment",
    "annex3:essential_services",
    "annex3:education",
    "annex3:law_enforcement",
    "annex3:migration",
)
#: Kinds of system whose very use processes data about people.
_PERSONAL_KINDS = (
    "chatbot",
    "emotion_recognition",
    "biometric_categorisation",
    "remote_biometric_id",
)
#: Kinds whose provider handles people's data: a service's users' inputs, a model's web-scale training data.
_PROVIDER_PERSONAL_KINDS = ("generated_content", "gpai_model")
#: Sectors whose AI is about people (their data is personal data).
_PERSONAL_SECTORS = (
    "healthcare",
    "employment",
    "credit",
    "insurance",
    "education",
    "law_enforcement",
    "migration",
    "justice",
    "elections",
)
#: Kinds of system that are Annex III(1) biometrics and process biometric data.
_BIOMETRIC_KINDS = ("emotion_recognition", "biometric_categorisation", "remote_biometric_id")
_IDENTIFYING = re.compile(
    r"fac(e|ial)[\s-](recognition|identification|verification|matching|search|index)|"
    r"biometric identification|"
    r"identif(y|ies|ying|ication) (people|persons|individuals|customers|shoppers|suspects|visitors)|"
    r"fingerprint|voice ?print|iris|unlock|"
    r"刷脸|人脸识别|人脸核验|人脸比对|指纹|声纹|虹膜|核验身份|身份核验|门禁",
    re.IGNORECASE,
)


def fact(key: str, value: Any, reason: str, source: FactSource) -> FactDict:
    """One fact as state keeps it."""
    return {"key": key, "value": value, "reason": reason, "source": source}


def _ordered(key: str, values: Iterable[Any]) -> list[Any]:
    allowed = FACT_SCHEMA[key][1]
    have = set(values)
    return [v for v in allowed if v in have]


def _count_matches(rule: Rule, text: str) -> int:
    return sum(1 for pattern in rule.patterns if pattern.search(text))


def derive_facts(text: str, language: str) -> dict[str, FactDict]:
    """The applicability facts of a task, by rules (no model).

    Args:
        text: The task (for a follow-up, see `agents.standard.followup`).
        language: ``zh`` or ``en``: the language of the reasons.

    Returns:
        Every key of `FACT_KEYS`, with value, reason and source.
    """
    r = REASONS.get(language, REASONS["en"])
    lexicon = load_lexicon()
    hits = find_hits(text, lexicon)
    values: dict[str, set[Any]] = {k: set() for k in FACT_KEYS}
    reasons: dict[tuple[str, Any], str] = {}
    by_strength: dict[tuple[str, Any, str], str] = {}
    negated: dict[tuple[str, Any], str] = {}
    sectors: list[tuple[int, int, str, str]] = []
    for order, hit in enumerate(hits):
        fv = (hit.rule.fact, hit.rule.value)
        if hit.negated:
            negated.setdefault(fv, hit.text)
            continue
        if hit.rule.fact == "sector":
            # The sector the task talks about most; the lexicon's order breaks ties.
            sectors.append((-_count_matches(hit.rule, text), order, str(hit.rule.value), hit.text))
            continue
        if hit.rule.strength in ("weak", "offer"):
            by_strength.setdefault((*fv, hit.rule.strength), hit.text)
            continue
        values[hit.rule.fact].add(hit.rule.value)
        reasons.setdefault(fv, r["mentions"].format(words=hit.text))

    def why(key: str, value: Any) -> str:
        return reasons.get((key, value), "")

    def imply(key: str, value: Any, reason: str) -> None:
        if (key, value) not in negated and value not in values[key]:
            values[key].add(value)
            reasons[(key, value)] = reason

    weak_place = by_strength.get(("jurisdictions", "cn", "weak"))
    if weak_place and not values["jurisdictions"]:
        # "某市", "省级": Chinese administrative words place a task with no named country in China.
        imply("jurisdictions", "cn", r["mentions"].format(words=weak_place))
    if values["internal_only"] and lexicon.cue("public_facing", text):
        values["internal_only"].clear()  # internal staff use it, and so do outsiders
    kinds = values["system_kinds"]
    # -- kinds of system: what one kind implies of another.
    if "chatbot" in kinds:
        imply(
            "system_kinds",
            "generated_content",
            r["implied_generated"].format(why=why("system_kinds", "chatbot")),
        )
    if "deepfake" in kinds:
        imply("system_kinds", "generated_content", why("system_kinds", "deepfake"))
    if "gpai_systemic_risk" in kinds:
        imply("system_kinds", "gpai_model", why("system_kinds", "gpai_systemic_risk"))
    weak_generated = by_strength.get(("system_kinds", "generated_content", "weak"))
    if weak_generated and "gpai_model" not in kinds:
        imply("system_kinds", "generated_content", r["mentions"].format(words=weak_generated))

    # -- roles: who builds, who offers, who uses.
    roles = values["roles"]
    role_source: FactSource = "rule"
    offer = by_strength.get(("roles", "provider", "offer"))
    if "gpai_model" in kinds and roles & {"provider", "gpai_provider"}:
        imply("roles", "gpai_provider", r["gpai"].format(words=_first(hits, "system_kinds")))
    if "gpai_model" in kinds and offer:
        imply("system_kinds", "generated_content", r["mentions"].format(words=offer))
    if "gpai_model" in kinds and not roles - {"gpai_provider"}:
        imply("roles", "gpai_provider", r["gpai"].format(words=_first(hits, "system_kinds")))
    if "gpai_provider" in roles:
        imply("system_kinds", "gpai_model", why("roles", "gpai_provider"))
    if offer and not roles & {"importer", "distributor"}:
        imply("roles", "provider", r["mentions"].format(words=offer))
    own_use = lexicon.cue("own_use", text)
    if "provider" in roles and "deployer" not in roles and own_use and not lexicon.cue("b2b", text):
        imply("roles", "deployer", r["own_use"].format(words=own_use.group(0)))
    if "provider" in roles and values["internal_only"]:
        # A tool built for the organisation's own staff is also used by it.
        imply("roles", "deployer", why("internal_only", True))
    if "gpai_provider" in roles and "provider" in roles and not offer and "chatbot" not in kinds:
        # Releasing a model is not placing an AI system on the market: no system, no system provider.
        roles.discard("provider")
    if "importer" in roles:
        roles.discard("distributor")  # an importer that resells is still the importer
    weak_use = by_strength.get(("roles", "deployer", "weak"))
    if weak_use and not roles:
        imply("roles", "deployer", r["mentions"].format(words=weak_use))
    for role in ("provider", "deployer"):
        if ("roles", role) in negated:
            roles.discard(role)
    if not roles:
        role_source = "default"

    # -- data, uses and decisions that the kind of system implies.
    for kind in _BIOMETRIC_KINDS:
        if kind in kinds:
            imply("data", "biometric", r["implied_kind"].format(why=why("system_kinds", kind)))
            imply(
                "use_categories", "annex3:biometrics", r["implied_kind"].format(why=why("system_kinds", kind))
            )
    deciding = [c for c in _DECIDING_USES if c in values["use_categories"]]

    # -- EU categories only where the EU is in play.
    eu = "eu" in values["jurisdictions"]
    eu_note = ""
    if not eu and (values["use_categories"] or values["prohibited"]):
        eu_note = r["eu_only"]
        values["use_categories"].clear()
        values["prohibited"].clear()

    # -- data: what the law and the use imply.
    data = values["data"]
    if "health" in data:
        imply("data", "special_category", r["implied_health"])
    if "biometric" in data and _IDENTIFYING.search(text):
        imply("data", "special_category", r["implied_biometric"])
    sector = sorted(sectors)[0] if sectors else None
    personal_why = next(
        (why("data", d) for d in ("health", "biometric", "children", "special_category") if d in data), ""
    )
    about_people = sorted(values["use_categories"] - {"annex3:critical_infrastructure", "annex1:product"})
    personal_why = personal_why or next((why("use_categories", c) for c in about_people), "")
    personal_why = personal_why or next((why("system_kinds", k) for k in _PERSONAL_KINDS if k in kinds), "")
    if roles & {"provider", "gpai_provider"}:
        personal_why = personal_why or next(
            (why("system_kinds", k) for k in _PROVIDER_PERSONAL_KINDS if k in kinds), ""
        )
    if not personal_why and sector and sector[2] in _PERSONAL_SECTORS:
        personal_why = r["mentions"].format(words=sector[3])
    if lexicon.cue("no_personal", text):
        negated.setdefault(("data", "personal"), lexicon.cue("no_personal", text).group(0))  # type: ignore[union-attr]
    if personal_why and ("data", "personal") not in negated:
        imply("data", "personal", r["implied_personal"].format(why=personal_why))
    for negated_key, negated_value in negated:
        values[negated_key].discard(negated_value)
    if ("data", "personal") in negated:
        data.clear()

    # -- automated decisions: explicit, or implied by a use that decides about people.
    decisions = bool(values["automated_decisions"])
    decisions_reason = why("automated_decisions", True)
    if not decisions and deciding:
        decisions = True
        decisions_reason = r["implied_decisions"].format(why=why("use_categories", deciding[0]))
    if ("automated_decisions", True) in negated:
        decisions, decisions_reason = False, r["negated"].format(words=negated[("automated_decisions", True)])

    out: dict[str, FactDict] = {}
    for key in FACT_KEYS:
        kind = FACT_SCHEMA[key][0]
        if key == "sector":
            value = sector[2] if sector else "general"
            reason = r["mentions"].format(words=sector[3]) if sector else r["sector_default"]
            out[key] = fact(key, value, reason, "rule" if sector else "default")
        elif key == "automated_decisions":
            out[key] = fact(
                key, decisions, decisions_reason or r["not_stated"], "rule" if decisions else "default"
            )
        elif kind == "bool":
            on = bool(values[key]) and (key, True) not in negated
            out[key] = fact(key, on, why(key, True) if on else r["not_stated"], "rule" if on else "default")
        else:
            listed = _ordered(key, values[key])
            parts = [why(key, v) for v in listed]
            reason = "; ".join(dict.fromkeys(p for p in parts if p))
            if key == "roles" and not listed:
                reason = r["roles_unknown"]
            elif key in ("use_categories", "prohibited") and eu_note and not listed:
                reason = eu_note
            source: FactSource = role_source if key == "roles" else "rule" if listed else "default"
            out[key] = fact(key, listed, reason or r["not_stated"], source)
    return out


def _first(hits: list[Hit], fact_key: str) -> str:
    return next((h.text for h in hits if h.rule.fact == fact_key and not h.negated), "")
