"""The openai/ backend against a stand-in OpenAI-compatible server over real HTTP on 127.0.0.1."""

import socket

import pytest
from langchain_core.tools import tool

from agents import ModelUnavailableError, load_chat_model
from agents.models.preflight import forget_preflights
from tests.integration.openai_standin import OpenAIStandIn


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    for name in ("COUNCIL_OPENAI_BASE_URL", "COUNCIL_OPENAI_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    forget_preflights()


@pytest.fixture
def standin():
    with OpenAIStandIn(models=["qwen"], chunks=["Hel", "lo"]) as server:
        yield server


def test_decoding_options_on_the_wire(standin):
    model = load_chat_model(
        "openai/qwen",
        base_url=standin.url,
        temperature=0.5,
        top_p=0.8,
        seed=7,
        max_new_tokens=32,
        stop=["##"],
    )
    assert model.invoke("hi").content == "Hello"
    sent = standin.chat_requests[-1]
    assert (sent["model"], sent["temperature"], sent["top_p"], sent["seed"]) == ("qwen", 0.5, 0.8, 7)
    assert (sent["max_tokens"], sent["stop"], sent["repeat_penalty"]) == (32, ["##"], 1.1)


def test_stream_yields_the_server_chunks(standin):
    model = load_chat_model("openai/qwen", base_url=standin.url)
    assert [c.content for c in model.stream("hi") if c.content] == ["Hel", "lo"]
    assert standin.chat_requests[-1]["stream"] is True


async def test_astream(standin):
    model = load_chat_model("openai/qwen", base_url=standin.url)
    assert [c.content async for c in model.astream("hi") if c.content] == ["Hel", "lo"]


def test_tool_calls_round_trip():
    @tool
    def ask_scientist(question: str) -> str:
        """Ask the scientist."""
        return question

    with OpenAIStandIn(
        models=["qwen"], tool_call={"name": "ask_scientist", "args": {"question": "q"}}
    ) as server:
        model = load_chat_model("openai/qwen", base_url=server.url)
        assert model.supports_tool_calling()
        reply = model.bind_tools([ask_scientist]).invoke("hi")
        assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("ask_scientist", {"question": "q"})]
        assert server.chat_requests[-1]["tools"][0]["function"]["name"] == "ask_scientist"


def test_server_down_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ModelUnavailableError) as err:
        load_chat_model("openai/qwen", base_url=url)
    assert str(err.value).startswith(f"cannot reach OpenAI-compatible server at {url}")


def test_unknown_model_names_what_is_served(standin):
    with pytest.raises(ModelUnavailableError) as err:
        load_chat_model("openai/llama", base_url=standin.url)
    assert str(err.value) == f"server at {standin.url} does not serve model 'llama' (it serves: qwen)"


def test_server_stopping_after_the_preflight_is_one_line():
    with OpenAIStandIn(models=["qwen"]) as server:
        model = load_chat_model("openai/qwen", base_url=server.url)
    with pytest.raises(ModelUnavailableError, match="cannot reach OpenAI-compatible server"):
        list(model.stream("hi"))


def test_a_council_turn_runs_on_the_openai_server(tmp_path):
    from tests.integration.council_cli import run_cli

    with OpenAIStandIn(models=["qwen"], chunks=["The standard ", "requires logging."]) as server:
        done = run_cli(
            tmp_path / "t.sqlite",
            tmp_path / "index",
            "--model",
            "openai/qwen",
            "We deploy a chatbot for customer support in the EU.",
            COUNCIL_OPENAI_BASE_URL=server.url,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert server.chat_requests and {r["model"] for r in server.chat_requests} == {"qwen"}
    assert "requires logging." in done.stdout
