"""LangChain messages to chat-template turns, and tool calls parsed back out of model text."""

import json

import pytest
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agents.models.hf.messages import (
    parse_tool_calls,
    template_supports_tools,
    text_of,
    to_template_messages,
    tool_system_prompt,
)

TOOLS = ["lookup_regulation", "add"]

CALL = {"name": "lookup_regulation", "args": {"name": "EU AI Act"}, "id": "call_1"}
HISTORY = [
    SystemMessage("You draft compliance clauses."),
    HumanMessage("What does the EU AI Act say?"),
    AIMessage("Let me check.", tool_calls=[CALL]),
    ToolMessage("Article 6: triage is high-risk.", tool_call_id="call_1", name="lookup_regulation"),
    SystemMessage("Answer in one sentence."),
]


# -- native mode (the template knows tools) -------------------------------------------------------


def test_native_history_keeps_tool_calls_and_the_tool_role():
    assert to_template_messages(HISTORY, native_tools=True) == [
        {"role": "system", "content": "You draft compliance clauses.\n\nAnswer in one sentence."},
        {"role": "user", "content": "What does the EU AI Act say?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "type": "function",
                    "id": "call_1",
                    "function": {"name": "lookup_regulation", "arguments": {"name": "EU AI Act"}},
                }
            ],
        },
        {
            "role": "tool",
            "content": "Article 6: triage is high-risk.",
            "tool_call_id": "call_1",
            "name": "lookup_regulation",
        },
    ]


def test_native_mode_leaves_same_role_turns_alone():
    turns = to_template_messages([HumanMessage("a"), HumanMessage("b")], native_tools=True)
    assert turns == [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]


# -- fallback mode (plain ChatML, e.g. SmolLM2) -----------------------------------------------------


def test_fallback_history_writes_calls_and_results_as_text():
    turns = to_template_messages(HISTORY, native_tools=False)
    assert turns == [
        {"role": "system", "content": "You draft compliance clauses.\n\nAnswer in one sentence."},
        {"role": "user", "content": "What does the EU AI Act say?"},
        {
            "role": "assistant",
            "content": 'Let me check.\n<tool_call>{"name": "lookup_regulation", "arguments": '
            '{"name": "EU AI Act"}}</tool_call>',
        },
        {
            "role": "user",
            "content": '<tool_response name="lookup_regulation" id="call_1">\n'
            "Article 6: triage is high-risk.\n</tool_response>",
        },
    ]
    assert all("tool_calls" not in t for t in turns)


def test_fallback_call_without_text_is_only_the_call():
    turns = to_template_messages(
        [HumanMessage("hi"), AIMessage("", tool_calls=[CALL, {**CALL, "id": "call_2", "args": {}}])],
        native_tools=False,
    )
    assert turns[-1] == {
        "role": "assistant",
        "content": '<tool_call>{"name": "lookup_regulation", "arguments": {"name": "EU AI Act"}}'
        '</tool_call>\n<tool_call>{"name": "lookup_regulation", "arguments": {}}</tool_call>',
    }


def test_fallback_tool_call_round_trips_through_the_parser():
    (turn,) = to_template_messages([AIMessage("", tool_calls=[CALL])], native_tools=False)
    text, calls, invalid = parse_tool_calls(turn["content"], TOOLS)
    assert (text, invalid) == ("", [])
    assert [(c["name"], c["args"]) for c in calls] == [("lookup_regulation", {"name": "EU AI Act"})]


def test_fallback_tool_result_without_name():
    (turn,) = to_template_messages([ToolMessage("42", tool_call_id="c9")], native_tools=False)
    assert turn == {"role": "user", "content": '<tool_response id="c9">\n42\n</tool_response>'}


def test_fallback_merges_same_role_turns():
    turns = to_template_messages(
        [
            HumanMessage("first"),
            HumanMessage("second"),
            AIMessage("", tool_calls=[CALL]),
            ToolMessage("r1", tool_call_id="call_1"),
            ToolMessage("r2", tool_call_id="call_2"),
            HumanMessage("so?"),
            AIMessage("one"),
            AIMessage("two"),
        ],
        native_tools=False,
    )
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0]["content"] == "first\n\nsecond"
    assert turns[2]["content"] == (
        '<tool_response id="call_1">\nr1\n</tool_response>\n\n'
        '<tool_response id="call_2">\nr2\n</tool_response>\n\nso?'
    )
    assert turns[3]["content"] == "one\n\ntwo"


def test_tool_prompt_goes_last_in_the_single_system_turn():
    turns = to_template_messages(
        [HumanMessage("hi"), SystemMessage("Be brief.")], native_tools=False, tool_prompt="TOOLS HERE"
    )
    assert turns == [
        {"role": "system", "content": "Be brief.\n\nTOOLS HERE"},
        {"role": "user", "content": "hi"},
    ]
    only_tools = to_template_messages([HumanMessage("hi")], native_tools=False, tool_prompt="TOOLS HERE")
    assert only_tools[0] == {"role": "system", "content": "TOOLS HERE"}


def test_no_system_turn_is_invented():
    assert to_template_messages([HumanMessage("hi")], native_tools=False) == [
        {"role": "user", "content": "hi"}
    ]


@pytest.mark.parametrize("native", [True, False])
def test_list_content_and_chat_message_roles(native):
    turns = to_template_messages(
        [
            HumanMessage(content=[{"type": "text", "text": "Hello "}, "world", {"type": "image_url"}]),
            ChatMessage(role="assistant", content="Hi."),
        ],
        native_tools=native,
    )
    assert turns == [{"role": "user", "content": "Hello world"}, {"role": "assistant", "content": "Hi."}]


def test_text_of_joins_text_blocks_only():
    assert text_of(AIMessage(content=[{"type": "text", "text": "a"}, {"type": "tool_use"}, "b"])) == "ab"
    assert text_of(HumanMessage("plain")) == "plain"


def test_empty_and_unsupported_histories_are_value_errors():
    with pytest.raises(ValueError, match="empty list of messages"):
        to_template_messages([], native_tools=False)
    with pytest.raises(ValueError, match="unsupported message type FunctionMessage"):
        to_template_messages([FunctionMessage("x", name="f")], native_tools=True)


# -- tool_system_prompt / template_supports_tools --------------------------------------------------

SCHEMA = {
    "type": "function",
    "function": {
        "name": "lookup_regulation",
        "description": "Look up a regulation.",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}


def test_tool_system_prompt_lists_schemas_and_the_call_format():
    prompt = tool_system_prompt([SCHEMA], required=False)
    assert json.dumps(SCHEMA["function"]) in prompt
    assert '<tool_call>{"name": "TOOL_NAME", "arguments": {"ARG": "VALUE"}}</tool_call>' in prompt
    assert "{tools}" not in prompt and "{requirement}" not in prompt
    assert "You must call" not in prompt
    assert "You must call at least one tool now." in tool_system_prompt([SCHEMA], required=True)


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
QWEN_LIKE = (
    "{%- if tools %}{{- '<tools>' }}{%- for tool in tools %}{{ tool | tojson }}{%- endfor %}{%- endif %}"
)


@pytest.mark.parametrize(
    ("template", "expected"), [(CHATML, False), (QWEN_LIKE, True), (None, False), ("", False)]
)
def test_template_supports_tools(template, expected):
    assert template_supports_tools(template) is expected


# -- parse_tool_calls -----------------------------------------------------------------------------


def _calls(text: str):
    remaining, calls, invalid = parse_tool_calls(text, TOOLS)
    return remaining, [(c["name"], c["args"]) for c in calls], invalid


def test_tag_form_with_surrounding_text():
    remaining, calls, invalid = _calls(
        'Checking.\n<tool_call>\n{"name": "lookup_regulation", "arguments": {"name": "GDPR"}}\n</tool_call>'
    )
    assert (remaining, calls, invalid) == ("Checking.", [("lookup_regulation", {"name": "GDPR"})], [])


def test_several_tags_and_ids():
    text = (
        '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>\n'
        '<tool_call>{"name": "add", "arguments": {"a": 3, "b": 4}}</tool_call>'
    )
    remaining, calls, invalid = parse_tool_calls(text, TOOLS)
    assert remaining == "" and invalid == []
    assert [c["args"] for c in calls] == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    ids = [c["id"] for c in calls]
    assert all(i and i.startswith("call_") for i in ids) and ids[0] != ids[1]


def test_unclosed_tag_at_the_end_still_parses():
    # Generation may stop (token limit, stop string) before the closing tag.
    assert _calls('<tool_call>{"name": "add", "arguments": {"a": 1}}') == ("", [("add", {"a": 1})], [])


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "add", "arguments": {"a": 1}}',
        '  {"name": "add", "parameters": {"a": 1}}\n',
        '<|python_tag|>{"name": "add", "parameters": {"a": 1}}',
        '```json\n{"name": "add", "arguments": {"a": 1}}\n```',
        '```\n{"name": "add", "arguments": {"a": 1}}\n```',
    ],
)
def test_bare_json_forms(text):
    assert _calls(text) == ("", [("add", {"a": 1})], [])


def test_arguments_as_a_json_string():
    text = '<tool_call>{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\": 2}"}</tool_call>'
    assert _calls(text) == ("", [("add", {"a": 1, "b": 2})], [])
    assert _calls('{"name": "add", "arguments": "{\\"a\\": 5}"}') == ("", [("add", {"a": 5})], [])


def test_missing_arguments_mean_no_arguments():
    assert _calls('<tool_call>{"name": "add"}</tool_call>') == ("", [("add", {})], [])


def test_unknown_tool_in_a_tag_is_invalid():
    raw = '{"name": "delete_everything", "arguments": {}}'
    remaining, calls, invalid = parse_tool_calls(f"<tool_call>{raw}</tool_call>", TOOLS)
    assert (remaining, calls) == ("", [])
    (bad,) = invalid
    assert bad["args"] == raw
    assert bad["error"] is not None and "unknown tool 'delete_everything'" in bad["error"]
    assert bad["id"] is not None and bad["id"].startswith("call_")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ('{"name": "add", "arguments": {"a": 1}', "malformed tool call"),  # no closing brace
        ("not json at all", "malformed tool call"),
        ('{"arguments": {"a": 1}}', "'name'"),
        ('{"name": "add", "arguments": [1, 2]}', "arguments must be a JSON object"),
        ('{"name": "add", "arguments": "{broken"}', "malformed tool call"),
        ('["add"]', "malformed tool call"),
    ],
)
def test_malformed_tag_is_invalid_not_an_exception(raw, why):
    remaining, calls, invalid = parse_tool_calls(f"<tool_call>{raw}</tool_call>", TOOLS)
    assert (remaining, calls) == ("", [])
    (bad,) = invalid
    assert bad["args"] == raw and bad["name"] is None
    assert bad["error"] is not None and why in bad["error"]


def test_valid_and_invalid_calls_side_by_side():
    text = (
        '<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>'
        "<tool_call>{oops}</tool_call>"
        '<tool_call>{"name": "nope", "arguments": {}}</tool_call>'
    )
    remaining, calls, invalid = _calls(text)
    assert remaining == ""
    assert calls == [("add", {"a": 1})]
    assert [i["args"] for i in invalid] == ["{oops}", '{"name": "nope", "arguments": {}}']


@pytest.mark.parametrize(
    "text",
    [
        "The EU AI Act classifies triage systems as high-risk.",
        "",
        '{"name": "delete_everything", "arguments": {}}',  # bare JSON for an unknown tool is just text
        '{"name": "add", "arguments": {"a": 1}',  # malformed bare JSON is just text
        '{"title": "a JSON answer", "body": "no tool"}',
        'Use {"name": "add"} later.',
    ],
)
def test_plain_text_has_no_calls(text):
    assert parse_tool_calls(text, TOOLS) == (text, [], [])
