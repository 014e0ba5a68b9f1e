"""Ollama adapter without a server: option mapping, host parsing, error translation."""

import httpx
import pytest
from langchain_core.messages import HumanMessage
from ollama import ResponseError
from ollama._client import _parse_host

from agents import ModelUnavailableError, load_chat_model
from agents.models import ollama as ollama_mod
from agents.models.ollama import (
    CouncilChatOllama,
    load_ollama_chat,
    model_in_tags,
    normalize_ollama_host,
)
from agents.models.options import ModelOptions


@pytest.fixture
def preflights(monkeypatch):
    """Record preflight calls instead of touching the network."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(ollama_mod, "preflight_ollama", lambda host, name: calls.append((host, name)))
    return calls


@pytest.fixture(autouse=True)
def _no_ollama_host(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


def test_all_options_map_to_ollama_names(preflights):
    model = load_chat_model(
        "ollama/llama3.1",
        temperature=0.7,
        top_p=0.9,
        seed=42,
        max_new_tokens=64,
        repetition_penalty=1.3,
        stop=["END", "###"],
        num_ctx=4096,
        host="127.0.0.1:5555",
    )
    assert isinstance(model, CouncilChatOllama)
    assert preflights == [("http://127.0.0.1:5555", "llama3.1")]
    assert model.model == "llama3.1"
    assert model.base_url == "http://127.0.0.1:5555"
    assert (model.num_predict, model.repeat_penalty) == (64, 1.3)
    assert (model.temperature, model.top_p, model.seed) == (0.7, 0.9, 42)
    assert (model.stop, model.num_ctx) == (["END", "###"], 4096)
    # What would go on the wire, built by ChatOllama itself.
    params = model._chat_params([HumanMessage("hi")])
    assert params["model"] == "llama3.1"
    assert params["options"] == {
        "num_predict": 64,
        "repeat_penalty": 1.3,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 42,
        "stop": ["END", "###"],
        "num_ctx": 4096,
    }


def test_default_options_leave_unset_ones_out(preflights):
    model = load_ollama_chat("qwen2.5:7b", ModelOptions())
    assert isinstance(model, CouncilChatOllama)
    assert preflights == [("http://127.0.0.1:11434", "qwen2.5:7b")]
    # Empty stop must be None, not []: an empty list would be sent and override the Modelfile's.
    assert model.stop is None
    assert model._chat_params([HumanMessage("hi")])["options"] == {
        "num_predict": 512,
        "repeat_penalty": 1.1,
        "temperature": 0.0,
        "top_p": 1.0,
    }


def test_calls_get_a_connect_timeout_but_no_read_timeout(preflights):
    model = load_ollama_chat("llama3.1", ModelOptions())
    assert isinstance(model, CouncilChatOllama)
    timeout = model._client._client.timeout
    assert timeout.connect == ollama_mod.CALL_CONNECT_TIMEOUT_S
    assert timeout.read is None


def test_bad_option_value_names_it_before_any_preflight(preflights):
    with pytest.raises(ValueError, match="temperature"):
        load_chat_model("ollama/x", temperature=-1)
    assert preflights == []


def test_hf_only_option_is_rejected_for_ollama(preflights):
    with pytest.raises(ValueError, match="device"):
        load_chat_model("ollama/x", device="cpu")
    assert preflights == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("127.0.0.1", "http://127.0.0.1:11434"),
        (":5678", "http://127.0.0.1:5678"),
        ("localhost", "http://localhost:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:9999", "http://127.0.0.1:9999"),
        ("http://0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("[::]:11434", "http://[::1]:11434"),
        ("[::1]", "http://[::1]:11434"),
        ("http://gpu-box:8080", "http://gpu-box:8080"),
        ("http://gpu-box:8080/", "http://gpu-box:8080"),
        ("gpu-box:8080/ollama/", "http://gpu-box:8080/ollama"),
        # As in Ollama: an explicit scheme without a port means that scheme's port.
        ("http://example.com", "http://example.com:80"),
        ("https://example.com", "https://example.com:443"),
        ("  127.0.0.1:1234  ", "http://127.0.0.1:1234"),
    ],
)
def test_normalize_host(given, expected):
    assert normalize_ollama_host(given) == expected


@pytest.mark.parametrize(
    "form",
    [
        "1.2.3.4",
        "1.2.3.4:56789",
        "http://1.2.3.4",
        "https://example.com:56789/path",
        "example.com/",
        ":56789",
    ],
)
def test_normalize_host_agrees_with_the_ollama_client(form):
    assert normalize_ollama_host(form) == _parse_host(form)


def test_env_host_is_used_and_argument_wins(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:12345")
    assert normalize_ollama_host(None) == "http://127.0.0.1:12345"
    assert normalize_ollama_host("127.0.0.1:2222") == "http://127.0.0.1:2222"


def test_env_host_reaches_the_model(monkeypatch, preflights):
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:7777")
    model = load_chat_model("ollama/llama3.1")
    assert isinstance(model, CouncilChatOllama)
    assert model.base_url == "http://127.0.0.1:7777"
    assert preflights == [("http://127.0.0.1:7777", "llama3.1")]


@pytest.mark.parametrize("bad", ["127.0.0.1:notaport", "ftp://127.0.0.1:11434", "127.0.0.1:99999"])
def test_bad_host_is_a_value_error(bad):
    with pytest.raises(ValueError, match="invalid Ollama host"):
        normalize_ollama_host(bad)


@pytest.mark.parametrize(
    ("name", "listed", "found"),
    [
        ("llama3.1", ["llama3.1:latest"], True),
        ("llama3.1:latest", ["llama3.1:latest"], True),
        ("Llama3.1", ["llama3.1:latest"], True),
        ("llama3.1", ["llama3.1:8b"], False),
        ("llama3.1:8b", ["llama3.1:latest"], False),
        ("llama3", ["llama3.1:latest"], False),
        ("registry.local:5000/team/llama3", ["registry.local:5000/team/llama3:latest"], True),
        ("registry.local:5000/team/llama3", ["registry.local:5000/team/llama3:8b"], False),
        ("anything", [], False),
    ],
)
def test_model_in_tags(name, listed, found):
    assert model_in_tags(name, listed) is found


def _model_whose_chat_raises(monkeypatch, exc):
    model = CouncilChatOllama(model="llama3.1", base_url="http://127.0.0.1:5555")

    def chat(**kwargs):
        raise exc

    monkeypatch.setattr(model._client, "chat", chat)
    return model


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("All connection attempts failed"),
        ConnectionError("Failed to connect to Ollama"),
        httpx.ConnectTimeout("timed out"),
    ],
)
def test_connection_errors_at_call_time_become_unavailable(monkeypatch, exc):
    model = _model_whose_chat_raises(monkeypatch, exc)
    with pytest.raises(ModelUnavailableError) as info:
        model.invoke("hi")
    assert str(info.value) == (
        "Ollama is not reachable at http://127.0.0.1:5555: start it with `ollama serve` (or set OLLAMA_HOST)"
    )
    assert info.value.__cause__ is exc


def test_model_not_found_at_call_time_becomes_unavailable(monkeypatch):
    exc = ResponseError('{"error":"model \'llama3.1\' not found"}', 404)
    model = _model_whose_chat_raises(monkeypatch, exc)
    with pytest.raises(ModelUnavailableError) as info:
        list(model.stream("hi"))
    assert str(info.value) == (
        "Ollama at http://127.0.0.1:5555 has no model 'llama3.1': run `ollama pull llama3.1`"
    )
    assert info.value.__cause__ is exc


def test_other_server_errors_pass_through(monkeypatch):
    exc = ResponseError('{"error":"out of memory"}', 500)
    model = _model_whose_chat_raises(monkeypatch, exc)
    with pytest.raises(ResponseError, match="out of memory"):
        model.invoke("hi")
