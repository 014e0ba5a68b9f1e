"""The ollama/ backend over real HTTP: a stand-in server on 127.0.0.1, and a real Ollama if present."""

import socket
import time

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool
from ollama import ResponseError

from agents import ModelUnavailableError, load_chat_model
from agents.models.ollama import normalize_ollama_host
from tests.integration.ollama_standin import OllamaStandIn

pytestmark = pytest.mark.timeout(30)

ALL_OPTIONS = {
    "temperature": 0.7,
    "top_p": 0.9,
    "seed": 42,
    "max_new_tokens": 64,
    "repetition_penalty": 1.3,
    "stop": ["END", "###"],
    "num_ctx": 4096,
}
ALL_OPTIONS_ON_THE_WIRE = {
    "temperature": 0.7,
    "top_p": 0.9,
    "seed": 42,
    "num_predict": 64,
    "repeat_penalty": 1.3,
    "stop": ["END", "###"],
    "num_ctx": 4096,
}
USAGE = {"input_tokens": 21, "output_tokens": 7, "total_tokens": 28}


@pytest.fixture
def standin():
    server = OllamaStandIn(models=["llama3.1:latest", "qwen2.5:7b"])
    with server:
        yield server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_preflight_then_options_and_model_name_on_the_wire(standin):
    model = load_chat_model("ollama/llama3.1", host=standin.url, **ALL_OPTIONS)
    assert [(r.method, r.path) for r in standin.requests] == [("GET", "/api/tags")]

    model.invoke("Draft clause 4.")

    (body,) = standin.chat_requests
    assert body["model"] == "llama3.1"
    assert body["options"] == ALL_OPTIONS_ON_THE_WIRE
    assert body["stream"] is True
    assert body["messages"][-1]["role"] == "user"
    assert body["messages"][-1]["content"] == "Draft clause 4."
    assert body.get("tools", []) == []  # the ollama client always sends "tools": []


def test_default_options_on_the_wire(standin):
    load_chat_model("ollama/qwen2.5:7b", host=standin.url).invoke("hi")
    (body,) = standin.chat_requests
    assert body["model"] == "qwen2.5:7b"
    assert body["options"] == {"num_predict": 512, "repeat_penalty": 1.1, "temperature": 0.0, "top_p": 1.0}


def test_stream_yields_the_scripted_chunks(standin):
    model = load_chat_model("ollama/llama3.1", host=standin.url)
    chunks = list(model.stream("hi"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks if c.content] == standin.chunks
    assert "".join(str(c.content) for c in chunks) == standin.text
    # Usage arrives once, on the final chunk, and survives aggregation.
    assert sum(1 for c in chunks if c.usage_metadata) == 1
    total = chunks[0]
    for c in chunks[1:]:
        total += c
    assert total.usage_metadata == USAGE


def test_invoke_returns_text_and_usage(standin):
    reply = load_chat_model("ollama/llama3.1", host=standin.url).invoke("hi")
    assert isinstance(reply, AIMessage)
    assert reply.content == standin.text
    assert reply.usage_metadata == USAGE
    assert reply.response_metadata["done_reason"] == "stop"
    assert reply.response_metadata["model_name"] == "llama3.1"
    # invoke() streams under the hood: ChatOllama aggregates the NDJSON chunks.
    assert standin.chat_requests[0]["stream"] is True


def test_invoke_without_streaming_uses_a_single_json_reply(standin):
    reply = load_chat_model("ollama/llama3.1", host=standin.url).invoke("hi", stream=False)
    assert standin.chat_requests[0]["stream"] is False
    assert reply.content == standin.text
    assert reply.usage_metadata == USAGE


async def test_ainvoke_and_astream(standin):
    model = load_chat_model("ollama/llama3.1", host=standin.url, seed=7)
    reply = await model.ainvoke("hi")
    assert reply.content == standin.text
    assert reply.usage_metadata == USAGE

    chunks = [c async for c in model.astream("hi")]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks if c.content] == standin.chunks

    assert len(standin.chat_requests) == 2
    assert all(b["options"]["seed"] == 7 for b in standin.chat_requests)


@tool
def get_weather(city: str) -> str:
    """Return the weather for a city."""
    return f"sunny in {city}"


def test_tool_calls_round_trip(standin):
    standin.chunks = []
    standin.tool_calls = [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    model = load_chat_model("ollama/llama3.1", host=standin.url).bind_tools([get_weather])

    reply = model.invoke("Weather in Paris?")

    assert isinstance(reply, AIMessage)
    assert len(reply.tool_calls) == 1
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert reply.tool_calls[0]["args"] == {"city": "Paris"}
    (body,) = standin.chat_requests
    (schema,) = body["tools"]
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "get_weather"
    assert schema["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert schema["function"]["parameters"]["required"] == ["city"]


def test_nothing_listening_fails_fast_with_what_to_run():
    host = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_chat_model("ollama/llama3.1", host=host)
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert host in message
    assert "ollama serve" in message
    assert "\n" not in message
    assert elapsed < 3.0, f"took {elapsed:.2f}s"


def test_silent_listener_fails_within_the_preflight_timeout():
    # Accepts TCP connections (kernel backlog) but never answers: no hang, a clear error.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ModelUnavailableError, match="ollama serve") as info:
            load_chat_model("ollama/llama3.1", host=host)
        elapsed = time.monotonic() - start
    assert host in str(info.value)
    assert elapsed < 3.0, f"took {elapsed:.2f}s"


@pytest.mark.parametrize("name", ["mistral", "llama3.1:8b"])
def test_model_not_pulled(standin, name):
    with pytest.raises(ModelUnavailableError) as info:
        load_chat_model(f"ollama/{name}", host=standin.url)
    message = str(info.value)
    assert f"`ollama pull {name}`" in message
    assert standin.url in message
    assert standin.chat_requests == []


def test_not_an_ollama_server(standin):
    with pytest.raises(ModelUnavailableError, match=r"HTTP 404 .*is it an Ollama server"):
        load_chat_model("ollama/llama3.1", host=f"{standin.url}/not-ollama")


@pytest.mark.parametrize("call", ["invoke", "stream", "ainvoke", "astream"])
async def test_server_gone_after_load(standin, call):
    model = load_chat_model("ollama/llama3.1", host=standin.url)
    standin.stop()

    with pytest.raises(ModelUnavailableError) as info:
        if call == "invoke":
            model.invoke("hi")
        elif call == "stream":
            list(model.stream("hi"))
        elif call == "ainvoke":
            await model.ainvoke("hi")
        else:
            [c async for c in model.astream("hi")]
    assert str(info.value) == (
        f"Ollama is not reachable at {standin.url}: start it with `ollama serve` (or set OLLAMA_HOST)"
    )
    assert isinstance(info.value.__cause__, (httpx.ConnectError, ConnectionError))


@pytest.mark.parametrize("call", ["invoke", "astream"])
async def test_model_removed_after_load(standin, call):
    model = load_chat_model("ollama/llama3.1", host=standin.url)
    standin.models.remove("llama3.1:latest")

    with pytest.raises(
        ModelUnavailableError, match=r"has no model 'llama3\.1': run `ollama pull llama3\.1`"
    ) as info:
        if call == "invoke":
            model.invoke("hi")
        else:
            [c async for c in model.astream("hi")]
    assert isinstance(info.value.__cause__, ResponseError)
    assert info.value.__cause__.status_code == 404


def _real_ollama_model() -> tuple[str, str]:
    host = normalize_ollama_host(None)
    try:
        response = httpx.get(f"{host}/api/tags", timeout=2.0)
        response.raise_for_status()
        models = [m.get("model") or m.get("name") for m in response.json().get("models", [])]
    except (httpx.HTTPError, ValueError) as exc:
        pytest.skip(f"no Ollama reachable at {host}: {exc!r}")
    if not models:
        pytest.skip(f"Ollama at {host} has no models; `ollama pull` one to run this test")
    return host, models[0]


@pytest.mark.timeout(300)
def test_real_ollama_if_present():
    host, name = _real_ollama_model()
    model = load_chat_model(f"ollama/{name}", host=host, max_new_tokens=16, seed=1)

    reply = model.invoke("Reply with one word: hello")
    assert isinstance(reply, AIMessage)
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] >= 1
    # Some models spend a short budget on hidden reasoning, so text may be empty; chunks may not.
    chunks = list(model.stream("Reply with one word: hello"))
    assert chunks
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
