"""Which language a task is written in, so agents and report labels follow it."""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["zh", "en"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str) -> Language:
    """``zh`` when Chinese outweighs English in the text, else ``en``.

    A Chinese task often quotes English names ("EU AI Act", "GDPR"), so letters
    are not counted one for one: a Chinese character carries about as much as
    an English word of some five letters.
    """
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    return "zh" if cjk and cjk * 5 > latin else "en"
