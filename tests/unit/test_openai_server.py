"""The openai/ backend without a server: option mapping, preflight (once), errors, key handling."""

import json

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage

from agents import ModelUnavailableError, load_chat_model
from agents.models import ollama as ollama_mod
from agents.models import openai_server as oa
from agents.models.options import ModelOptions

BASE = "http://gpu-1:8000/v1"


class FakeServer:
    """An OpenAI-compatible server as an httpx transport: counts /models calls, records requests."""

    def __init__(self, served=("qwen2.5-7b",)):
        self.served = list(served)
        self.model_calls = 0
        self.requests: list[dict] = []
        self.auth: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.auth.append(request.headers.get("authorization", ""))
        if request.url.path.endswith("/models"):
            self.model_calls += 1
            return httpx.Response(200, json={"object": "list", "data": [{"id": m} for m in self.served]})
        body = json.loads(request.content)
        self.requests.append(body)
        if body["model"] not in self.served:
            return httpx.Response(404, json={"error": {"message": "model not found"}})
        message = {"role": "assistant", "content": "ok"}
        return httpx.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for name in ("COUNCIL_OPENAI_BASE_URL", "COUNCIL_OPENAI_API_KEY", "OPENAI_API_KEY", "OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(monkeypatch):
    """Route the preflight's httpx.get through a FakeServer."""
    fake = FakeServer()
    transport = httpx.MockTransport(fake.handle)

    def get(url, **kwargs):
        with httpx.Client(transport=transport) as client:
            return client.get(url, headers=kwargs.get("headers"))

    monkeypatch.setattr(oa.httpx, "get", get)
    return fake, transport


def _on(model, transport):
    """Send `model`'s chat requests through `transport` instead of the network."""
    model.client = openai.OpenAI(
        base_url=model.openai_api_base, api_key="x", http_client=httpx.Client(transport=transport)
    ).chat.completions
    return model


def test_decoding_options_reach_the_wire(server):
    fake, transport = server
    model = load_chat_model(
        "openai/qwen2.5-7b",
        base_url=BASE,
        temperature=0.7,
        top_p=0.9,
        seed=42,
        max_new_tokens=64,
        repetition_penalty=1.3,
        stop=["###"],
    )
    assert _on(model, transport).invoke([HumanMessage("hi")]).content == "ok"
    sent = fake.requests[-1]
    assert (sent["model"], sent["temperature"], sent["top_p"], sent["seed"]) == ("qwen2.5-7b", 0.7, 0.9, 42)
    assert sent["max_tokens"] == sent["max_completion_tokens"] == 64
    assert sent["repetition_penalty"] == sent["repeat_penalty"] == 1.3
    assert sent["stop"] == ["###"]


def test_preflight_runs_once_per_server_and_model(server):
    fake, _ = server
    for _ in range(5):
        load_chat_model("openai/qwen2.5-7b", base_url=BASE)
    assert fake.model_calls == 1
    load_chat_model("openai/qwen2.5-7b", base_url="http://gpu-2:8000/v1")
    assert fake.model_calls == 2


def test_unknown_model_is_one_line_naming_what_is_served(server):
    with pytest.raises(ModelUnavailableError) as err:
        load_chat_model("openai/llama-3-70b", base_url=BASE)
    assert str(err.value) == f"server at {BASE} does not serve model 'llama-3-70b' (it serves: qwen2.5-7b)"


def test_failed_preflight_is_not_remembered(server):
    fake, _ = server
    fake.served = []
    with pytest.raises(ModelUnavailableError):
        load_chat_model("openai/qwen2.5-7b", base_url=BASE)
    fake.served = ["qwen2.5-7b"]
    load_chat_model("openai/qwen2.5-7b", base_url=BASE)
    assert fake.model_calls == 2


def test_server_down_is_one_line_without_password(monkeypatch):
    def refuse(url, **kwargs):
        raise httpx.ConnectError("connection refused")

    monkeypatch.setattr(oa.httpx, "get", refuse)
    with pytest.raises(ModelUnavailableError) as err:
        load_chat_model("openai/m", base_url="http://ann:s3cret@gpu-1:8000/v1")
    message = str(err.value)
    assert message.startswith("cannot reach OpenAI-compatible server at http://ann:***@gpu-1:8000/v1")
    assert "s3cret" not in message and "\n" not in message


def test_not_an_openai_server(monkeypatch):
    monkeypatch.setattr(
        oa.httpx,
        "get",
        lambda url, **kw: httpx.Response(200, text="<html>", request=httpx.Request("GET", url)),
    )
    with pytest.raises(ModelUnavailableError, match="is it an OpenAI-compatible server"):
        load_chat_model("openai/m", base_url=BASE)


def test_errors_of_later_calls_are_translated(server):
    fake, transport = server
    model = _on(load_chat_model("openai/qwen2.5-7b", base_url=BASE), transport)
    fake.served = []  # the operator swapped the model out after the preflight
    with pytest.raises(ModelUnavailableError, match=r"does not serve model 'qwen2\.5-7b'"):
        model.invoke([HumanMessage("hi")])

    def down(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(ModelUnavailableError, match="cannot reach OpenAI-compatible server"):
        list(_on(model, httpx.MockTransport(down)).stream([HumanMessage("hi")]))


def test_api_key_comes_from_env_only_and_a_dummy_otherwise(server, monkeypatch):
    fake, _ = server
    load_chat_model("openai/qwen2.5-7b", base_url=BASE)
    assert fake.auth[-1] == "Bearer no-key"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    monkeypatch.setenv("COUNCIL_OPENAI_API_KEY", "sk-council")
    model = load_chat_model("openai/qwen2.5-7b", base_url="http://gpu-3:8000/v1")
    assert fake.auth[-1] == "Bearer sk-council"
    assert model.openai_api_key is not None and model.openai_api_key.get_secret_value() == "sk-council"
    assert "sk-council" not in repr(model)
    with pytest.raises(ValueError, match="unknown model option"):
        load_chat_model("openai/qwen2.5-7b", base_url=BASE, api_key="sk-from-caller")


def test_base_url_from_env_and_bad_values(server, monkeypatch):
    monkeypatch.setenv("COUNCIL_OPENAI_BASE_URL", "http://gpu-9:8000/v1/")
    assert load_chat_model("openai/qwen2.5-7b").openai_api_base == "http://gpu-9:8000/v1"
    with pytest.raises(ValueError, match="invalid OpenAI-compatible base URL"):
        load_chat_model("openai/qwen2.5-7b", base_url="ftp://x")
    with pytest.raises(ValueError, match="invalid model option base_url=3"):
        load_chat_model("openai/qwen2.5-7b", base_url=3)


def test_tool_calling_is_on_so_auto_goes_agentic(server):
    model = load_chat_model("openai/qwen2.5-7b", base_url=BASE)
    assert model.supports_tool_calling() is True


def test_num_ctx_is_accepted_but_not_sent(server):
    fake, transport = server
    model = oa.load_openai_chat("qwen2.5-7b", ModelOptions(num_ctx=4096), base_url=BASE)
    _on(model, transport).invoke([HumanMessage("hi")])
    assert "num_ctx" not in fake.requests[-1]


def test_ollama_preflight_runs_once_per_host_and_model(monkeypatch):
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(ollama_mod, "preflight_ollama", lambda host, name: calls.append((host, name)))
    for _ in range(4):
        load_chat_model("ollama/llama3.1")
    load_chat_model("ollama/llama3.1", host="gpu-1")
    load_chat_model("ollama/qwen2.5")
    assert calls == [
        ("http://127.0.0.1:11434", "llama3.1"),
        ("http://gpu-1:11434", "llama3.1"),
        ("http://127.0.0.1:11434", "qwen2.5"),
    ]
