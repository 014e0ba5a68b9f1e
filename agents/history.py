"""Fit a conversation into the model's context window.

The checkpoint keeps every turn; what is *sent* to a model is the newest part
of the history that fits beside the fixed prompt and the reply budget,
counted in the model's own tokens where the model can count them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, trim_messages

#: Used when neither the caller nor the model says how large its window is
#: (Ollama's own default is 2048-4096 depending on the version).
FALLBACK_WINDOW = 4096

_CJK = re.compile(r"[\u3000-\u9fff\uf900-\ufaff\uff00-\uffef]")


def approx_tokens(text: str) -> int:
    """A conservative token estimate: one per CJK character, one per 3 other characters."""
    cjk = len(_CJK.findall(text))
    return cjk + (len(text) - cjk + 2) // 3


def count_tokens(model: BaseChatModel, messages: Sequence[BaseMessage]) -> int:
    """Prompt tokens of `messages` for `model`: exact for our `hf/` adapter, estimated otherwise.

    Other models' `get_num_tokens_from_messages` falls back to downloading a
    GPT-2 tokenizer, which an offline machine cannot do, so they are estimated.
    """
    from agents.models.hf.chat_model import ChatLocalHF  # torch is heavy: import on demand

    if isinstance(model, ChatLocalHF):
        return model.get_num_tokens_from_messages(list(messages))
    # Four tokens a message for the role markers the template adds.
    return sum(approx_tokens(m.text) + 4 for m in messages)


def context_window(model: BaseChatModel, num_ctx: int | None) -> int:
    """The window to fit into: `num_ctx` if set, else the model's own, else a fallback."""
    if num_ctx:
        return num_ctx
    engine = getattr(model, "engine", None)
    if callable(engine):
        return int(engine().context_window)
    return FALLBACK_WINDOW


def fit_history(
    model: BaseChatModel,
    history: Sequence[BaseMessage],
    fixed: Sequence[BaseMessage],
    *,
    num_ctx: int | None,
    max_new_tokens: int,
) -> list[BaseMessage]:
    """The newest part of `history` that fits beside `fixed` and the reply.

    Args:
        model: The model the prompt is for (its tokenizer counts).
        history: Earlier turns, oldest first.
        fixed: What must be sent whatever happens (system prompt, current request).
        num_ctx: The configured window, or None for the model's own.
        max_new_tokens: Tokens reserved for the reply.

    Returns:
        A suffix of `history` starting on a human message; empty when nothing fits.
    """
    if not history:
        return []
    budget = context_window(model, num_ctx) - max_new_tokens - count_tokens(model, fixed)
    if budget <= 0:
        return []
    return trim_messages(
        list(history),
        max_tokens=budget,
        token_counter=lambda msgs: count_tokens(model, msgs),
        strategy="last",
        start_on="human",
        allow_partial=False,
    )
