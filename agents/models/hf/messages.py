"""LangChain messages to chat-template dicts, and tool calls back out of text.

Templates that know tools (Qwen2.5, Llama 3.1, Hermes...) get the native
`tools=`, `tool_calls` and `tool` role. Templates that do not (SmolLM2's plain
ChatML) get the documented fallback: tool schemas in the system prompt, calls
written as `<tool_call>{json}</tool_call>` and tool results as user turns.
Either way the model's output is parsed with `parse_tool_calls`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import InvalidToolCall, ToolCall, invalid_tool_call, tool_call

from prompts import load_prompt

_TOOL_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.S)
_FENCE_RE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def text_of(message: BaseMessage) -> str:
    """The text of a message whose content may be a string or a list of blocks."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def template_supports_tools(chat_template: str | None) -> bool:
    """True when the chat template renders a `tools` list itself."""
    return bool(chat_template) and "tools" in str(chat_template)


def tool_system_prompt(tools: Sequence[dict[str, Any]], required: bool) -> str:
    """The fallback instructions that teach a template-less model our call format."""
    schemas = "\n".join(json.dumps(t.get("function", t), ensure_ascii=False) for t in tools)
    requirement = "You must call at least one tool now." if required else ""
    # Not str.format: the prompt shows a literal JSON example whose braces format() would parse.
    template = load_prompt("tool_calling.md")
    return template.replace("{requirement}", requirement).replace("{tools}", schemas).strip()


def to_template_messages(
    messages: Sequence[BaseMessage],
    *,
    native_tools: bool,
    tool_prompt: str | None = None,
) -> list[dict[str, Any]]:
    """Convert LangChain messages to the dicts `apply_chat_template` takes.

    Args:
        messages: The conversation.
        native_tools: The template handles tool calls and the tool role itself.
        tool_prompt: Fallback tool instructions, appended to the system message.

    Raises:
        ValueError: for an empty conversation or an unsupported message type.
    """
    if not messages:
        raise ValueError("cannot generate from an empty list of messages")
    system_parts: list[str] = []
    out: list[dict[str, Any]] = []
    for msg in messages:
        if isinstance(msg, SystemMessage):
            # Many templates accept a system message only first: merge them all there.
            system_parts.append(text_of(msg))
        elif isinstance(msg, HumanMessage):
            out.append({"role": "user", "content": text_of(msg)})
        elif isinstance(msg, AIMessage):
            out.append(_assistant(msg, native_tools))
        elif isinstance(msg, ToolMessage):
            out.append(_tool_result(msg, native_tools))
        elif isinstance(msg, ChatMessage):
            out.append({"role": msg.role, "content": text_of(msg)})
        else:
            raise ValueError(f"unsupported message type {type(msg).__name__}")
    if tool_prompt:
        system_parts.append(tool_prompt)
    if system_parts:
        out.insert(0, {"role": "system", "content": "\n\n".join(p for p in system_parts if p)})
    return out if native_tools else _merge_same_role(out)


def _assistant(msg: AIMessage, native_tools: bool) -> dict[str, Any]:
    text = text_of(msg)
    if not msg.tool_calls:
        return {"role": "assistant", "content": text}
    if native_tools:
        calls = [
            {"type": "function", "id": c.get("id"), "function": {"name": c["name"], "arguments": c["args"]}}
            for c in msg.tool_calls
        ]
        return {"role": "assistant", "content": text, "tool_calls": calls}
    written = "\n".join(
        "<tool_call>"
        + json.dumps({"name": c["name"], "arguments": c["args"]}, ensure_ascii=False)
        + "</tool_call>"
        for c in msg.tool_calls
    )
    return {"role": "assistant", "content": f"{text}\n{written}".strip()}


def _tool_result(msg: ToolMessage, native_tools: bool) -> dict[str, Any]:
    text = text_of(msg)
    if native_tools:
        return {"role": "tool", "content": text, "tool_call_id": msg.tool_call_id, "name": msg.name}
    name = f' name="{msg.name}"' if msg.name else ""
    return {
        "role": "user",
        "content": f'<tool_response{name} id="{msg.tool_call_id}">\n{text}\n</tool_response>',
    }


def _merge_same_role(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Strict templates require user/assistant alternation; tool results turned
    # into user turns can break it, so adjacent same-role turns are joined.
    merged: list[dict[str, Any]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"] and turn["role"] != "system":
            merged[-1] = {**merged[-1], "content": f"{merged[-1]['content']}\n\n{turn['content']}"}
        else:
            merged.append(turn)
    return merged


def parse_tool_calls(
    text: str, tool_names: Sequence[str]
) -> tuple[str, list[ToolCall], list[InvalidToolCall]]:
    """Find tool calls in generated text.

    Understands `<tool_call>{...}</tool_call>` blocks (Hermes, Qwen and our
    fallback) and a reply that is only a JSON object naming a known tool
    (Llama 3.1 style, with or without `<|python_tag|>` or a code fence).

    Returns:
        (remaining text, valid calls, invalid calls).
    """
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    blocks = _TOOL_CALL_RE.findall(text)
    if blocks:
        remaining = _TOOL_CALL_RE.sub("", text).strip()
    else:
        bare = text.strip().removeprefix("<|python_tag|>").strip()
        fenced = _FENCE_RE.match(bare)
        bare = fenced.group(1) if fenced else bare
        if not (bare.startswith("{") and '"name"' in bare):
            return text, [], []
        try:
            obj = json.loads(bare)
        except json.JSONDecodeError:
            return text, [], []
        if not (isinstance(obj, dict) and obj.get("name") in tool_names):
            return text, [], []
        blocks, remaining = [bare], ""
    for raw in blocks:
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        try:
            obj = json.loads(raw)
            name = obj["name"]
            args = obj.get("arguments", obj.get("parameters", {}))
            if isinstance(args, str):
                args = json.loads(args)
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
            if name not in tool_names:
                raise ValueError(f"unknown tool {name!r}")
        except (ValueError, KeyError, TypeError) as exc:
            invalid.append(
                invalid_tool_call(name=None, args=raw, id=call_id, error=f"malformed tool call: {exc}")
            )
            continue
        calls.append(tool_call(name=name, args=args, id=call_id))
    return remaining, calls, invalid


#: Marks where a message's text goes while the chat template is rendered (private-use characters).
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


def with_placeholders(turns: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The turns with each text content replaced by a numbered placeholder, and the texts.

    The chat template is then rendered around the placeholders, so what it adds
    (role markers, special tokens) can be told apart from what the messages say.
    """
    texts: list[str] = []
    placed: list[dict[str, Any]] = []
    for turn in turns:
        content = turn.get("content")
        if isinstance(content, str) and content:
            # The markers themselves cannot appear in a text (they would split it wrongly).
            texts.append(content.replace(_OPEN, "").replace(_CLOSE, ""))
            turn = {**turn, "content": f"{_OPEN}{len(texts) - 1}{_CLOSE}"}
        placed.append(turn)
    return placed, texts


def split_placeholders(rendered: str, texts: list[str]) -> list[tuple[str, bool]]:
    """The rendered prompt as pieces: (template markup, False) and (a message's text, True)."""
    pieces: list[tuple[str, bool]] = []
    end = 0
    for match in _PLACEHOLDER.finditer(rendered):
        if match.start() > end:
            pieces.append((rendered[end : match.start()], False))
        pieces.append((texts[int(match.group(1))], True))
        end = match.end()
    if end < len(rendered):
        pieces.append((rendered[end:], False))
    return [(piece, is_text) for piece, is_text in pieces if piece]
