"""The quality gate model prose passes before it reaches the body of the standard.

A small model loops, invents headings and instruments, and answers a Chinese
task in English. Each line of model prose is checked on its own: no heading of
its own, no repeat of another line, no loop inside it, the task's language, no
echo of the prompt, and citations that are real (an id that was not retrieved,
or an instrument or article no passage supports, fails it). What passes goes
into the standard, marked as the council's; what fails stays in the appendix,
marked with the reason.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agents.standard.citations import check_citations, flag_unverified
from agents.standard.types import PassageDict

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_ID_OR_URL = re.compile(r"\[[^\]]*\]|https?://\S+|`[^`]*`")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)、]|[（(]\d{1,2}[)）])\s+")
_HEADING = re.compile(
    r"^\s*(#{1,6}\s|\*\*[^*]{1,80}\*\*\s*:?\s*$|[A-Z][^.!?。：:]{0,60}:\s*$|[^。.!?]{1,30}[：:]\s*$)"
)
_NUMBERED_TITLE = re.compile(r"^\s*\d+(\.\d+)*[.)、]?\s*\S.{0,40}$")
_PROMPT_ECHO = re.compile(
    r"your role|you are the|answer in english|the coordinator|reference material|passages? below|"
    r"as an ai|i'?m ready|i am ready|here (is|are) (my|the)|task:|question:|"
    r"请用中文回答|你的角色|你是|协调员|以下段落|参考材料",
    re.IGNORECASE,
)
#: Talk about the answer rather than the answer: it adds nothing a standard can hold anyone to.
_FILLER = re.compile(
    r"here'?s a|here is a|great example|so there you go|breakdown of|in summary|in conclusion|"
    r"i hope|let me know|feel free|happy to help|sure[,!]|certainly[,!]|of course[,!]|game changer|"
    r"as follows|the following|总之|综上|希望(这|以上)|如下[:：]|以下是|"
    r"\bthe standard (is|requires|includes|covers|highlights|emphasi[sz]es|describes|adds|goes|ends)\b|"
    r"\b(requirements|articles?) mentioned in\b|\bthis (section|paragraph|answer)\b|"
    r"本标准(要求|包括|涵盖|强调)",
    re.IGNORECASE,
)
_STOP = frozenset(
    [
        "that",
        "this",
        "with",
        "from",
        "have",
        "will",
        "shall",
        "must",
        "should",
        "would",
        "could",
        "their",
        "there",
        "which",
        "where",
        "when",
        "what",
        "about",
        "into",
        "also",
        "been",
        "being",
        "they",
        "them",
        "were",
        "such",
        "more",
        "most",
        "other",
        "only",
        "very",
        "each",
        "every",
        "than",
        "then",
        "these",
        "those",
        "make",
        "made",
        "using",
        "used",
        "does",
        "done",
        "over",
        "under",
        "between",
        "within",
        "without",
    ]
)
#: Share of a line's words that must also occur in the task, the facts or the requirements.
MIN_RELEVANCE = 0.4
#: Requirement numbers a line may refer to ("5.2", "5.2:").
REQUIREMENT_REF = re.compile(r"^\s*(?:[-*•]\s*)?\**(\d{1,2}\.\d{1,2})\**\s*[:：.)\-–—]?\s*")


@dataclass
class GateResult:
    """Lines that passed, and lines that failed with the reason."""

    kept: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)


REASONS = {
    "en": {
        "heading": "a heading of its own",
        "repeat": "repeats an earlier line",
        "loop": "repeats itself",
        "language": "not in the task's language",
        "echo": "echoes the prompt",
        "filler": "talks about the answer instead of giving one",
        "relevance": "off the subject of this standard",
        "short": "too short to be a requirement",
        "long": "too long for one point",
        "unknown_id": "cites a passage that was not retrieved ({ids})",
        "unverified": "names a law or article no passage supports ({refs})",
        "empty": "the model wrote nothing",
    },
    "zh": {
        "heading": "模型自拟的标题",
        "repeat": "与前文重复",
        "loop": "内容自我重复",
        "language": "未使用任务的语言",
        "echo": "复述了提示词",
        "filler": "空泛的套话",
        "relevance": "与本标准的内容无关",
        "short": "过短，不构成一项要求",
        "long": "过长，不是一个要点",
        "unknown_id": "引用了未检索到的段落（{ids}）",
        "unverified": "提到了没有任何段落支持的法规或条款（{refs}）",
        "empty": "模型未输出内容",
    },
}


def normalise(line: str) -> str:
    """A line reduced to its words, for spotting repeats."""
    line = _BULLET.sub("", REQUIREMENT_REF.sub("", line))
    return re.sub(r"[\W_]+", " ", line.lower()).strip()


def _periodic(units: list[str], sizes: Iterable[int]) -> bool:
    """Whether some run of `units` repeats three times or more with little in between."""
    for n in sizes:
        positions: dict[str, list[int]] = {}
        for i in range(len(units) - n + 1):
            positions.setdefault("\x1f".join(units[i : i + n]), []).append(i)
        for found in positions.values():
            if len(found) < 3:
                continue
            gaps = [b - a for a, b in itertools.pairwise(found)]
            # Back-to-back repeats, or a phrase that fills most of the line.
            if max(gaps) <= 2 * n or n * len(found) >= 0.6 * len(units):
                return True
    return False


def loops(line: str) -> bool:
    """Whether a line goes round in circles: a phrase repeated back to back.

    Legal prose repeats its terms in parallel clauses ("shall not collect …,
    shall not retain …, shall not provide …"); a loop repeats a phrase with
    little or nothing in between, or until it is most of the line.
    """
    line = _ID_OR_URL.sub(" ", line)  # citations repeat ids by design ("[nist-ai-rmf:…]")
    words = re.findall(r"\w+", line.lower())
    if len(words) >= 6 and _periodic(words, range(2, 9)):
        return True
    cjk = _CJK.findall(line)
    return len(cjk) >= 8 and _periodic(cjk, (3, 4, 6, 8, 12))


def in_language(line: str, language: str) -> bool:
    """Whether `line` is written in `language` (ids, URLs and code do not count)."""
    text = _ID_OR_URL.sub(" ", line)
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    if language == "zh":
        # A Chinese character carries about as much as a five-letter English word.
        return cjk >= 4 and cjk * 5 >= latin
    return cjk == 0 or cjk * 20 < latin


def split_lines(text: str) -> list[str]:
    """Model prose as candidate points: its non-empty lines."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _near_repeat(norm: str, seen: set[str]) -> bool:
    """Whether a line says nearly what an earlier one said, in nearly the same words."""
    mine = set(norm.split())
    if len(mine) < 5:
        return False
    for other in seen:
        theirs = set(other.split())
        if theirs and len(mine & theirs) / len(mine | theirs) >= 0.6:
            return True
    return False


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in _STOP}


def _bigrams(text: str) -> set[str]:
    cjk = "".join(_CJK.findall(text))
    return {cjk[i : i + 2] for i in range(len(cjk) - 1)}


def relevance(line: str, context: str) -> float:
    """Share of the line's content words (Chinese: character pairs) that the context also uses."""
    mine = _words(line) | _bigrams(line)
    if not mine:
        return 0.0
    theirs = _words(context) | _bigrams(context)
    return len(mine & theirs) / len(mine)


def gate(
    text: str,
    *,
    language: str,
    passages: Iterable[PassageDict],
    aliases: Iterable[str] = (),
    seen: set[str] | None = None,
    context: str = "",
) -> GateResult:
    """Check each line of model prose; keep what passes.

    Args:
        text: The model's reply.
        language: The task's language.
        passages: What the prose may cite (retrieved passages and the requirements' passages).
        aliases: Names of instruments the report rests on ("EU AI Act", "GDPR", "《个人信息保护法》").
        seen: Normalised lines already in the report; lines repeating them fail (updated in place).
        context: What the standard is about (task, facts, requirements); a line that shares too
            little of its vocabulary is off the subject. Empty: not checked.
    """
    reasons = REASONS.get(language, REASONS["en"])
    passages = list(passages)
    known = [p["source_id"] for p in passages]
    seen = seen if seen is not None else set()
    result = GateResult()
    lines = split_lines(text)
    if not lines:
        result.rejected.append(("", reasons["empty"]))
        return result
    for line in lines:
        body = _BULLET.sub("", line).strip()
        norm = normalise(line)
        why = ""
        if _HEADING.match(line) or (
            _NUMBERED_TITLE.match(line) and len(body) < 25 and not body.endswith((".", "。"))
        ):
            why = reasons["heading"]
        elif len(norm) < (6 if language == "zh" else 15):
            why = reasons["short"]
        elif len(body) > 500:
            why = reasons["long"]
        elif norm in seen or _near_repeat(norm, seen):
            why = reasons["repeat"]
        elif loops(body):
            why = reasons["loop"]
        elif _PROMPT_ECHO.search(body):
            why = reasons["echo"]
        elif _FILLER.search(body):
            why = reasons["filler"]
        elif not in_language(body, language):
            why = reasons["language"]
        elif context and relevance(body, context) < MIN_RELEVANCE:
            why = reasons["relevance"]
        else:
            cited = check_citations(body, known, "")
            flagged = flag_unverified(body, passages, "", aliases=aliases)
            if cited.unknown:
                why = reasons["unknown_id"].format(ids=", ".join(cited.unknown))
            elif flagged.unverified:
                why = reasons["unverified"].format(refs=", ".join(sorted(flagged.unverified)))
            else:
                result.cited += cited.cited
        if why:
            result.rejected.append((line, why))
        else:
            result.kept.append(body)
        seen.add(norm)
    return result
