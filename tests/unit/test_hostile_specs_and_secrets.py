"""Bad model specs and options are one-line ValueErrors; URL passwords never reach a message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agents import load_chat_model
from agents.models.errors import redact_credentials
from agents.remote import ExpertsUnavailableError, ask_remote_expert
from graphs.checkpointing import CheckpointerError, describe_target, open_checkpointer
from graphs.context import Context

# -- 4. model specs and hf load options -------------------------------------------------------------


@pytest.mark.parametrize("spec", [42, 4.2, b"hf/embedded", ["hf/embedded"], {"hf": "x"}, True])
def test_a_spec_that_is_not_a_string_is_one_value_error(spec: Any) -> None:
    with pytest.raises(ValueError) as info:
        load_chat_model(spec)
    assert type(info.value) is ValueError
    assert str(info.value) == (
        f"invalid model spec {spec!r}: must be a string such as 'hf/<hub id or local path>', "
        "'ollama/<model name>' or 'openai/<model id>'"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "bogus"}, "invalid model option device='bogus': use auto, cpu, cuda, cuda:<n> or mps"),
        ({"device": 42}, "invalid model option device=42: must be a string or None"),
        ({"device": ["cpu"]}, "invalid model option device=['cpu']: must be a string or None"),
        (
            {"dtype": "int3"},
            "invalid model option dtype='int3': use one of bf16, bfloat16, float16, float32, fp16, fp32 "
            "or auto",
        ),
        ({"dtype": 16}, "invalid model option dtype=16: must be a string or None"),
        ({"device": "cpu", "dtype": "float8"}, "invalid model option dtype='float8': use one of"),
    ],
)
def test_bad_device_or_dtype_is_one_value_error_not_a_validation_error(options: Any, message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValueError) as info:
        load_chat_model("hf/embedded", **options)
    assert not isinstance(info.value, ValidationError)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_cuda_on_a_machine_without_it_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError) as info:
        load_chat_model("hf/embedded", device="cuda:1")
    assert str(info.value) == "invalid model option device='cuda:1': CUDA is not available on this machine"


def test_good_device_and_dtype_still_load() -> None:
    model: Any = load_chat_model("hf/embedded", device="cpu", dtype="bf16")
    assert (model.device, model.dtype) == ("cpu", "bf16")
    assert load_chat_model("hf/embedded", device=None, dtype="auto") is not None


def test_an_ollama_host_that_is_not_a_string_is_one_line() -> None:
    with pytest.raises(ValueError) as info:
        load_chat_model("ollama/llama3.1", host=42)
    assert str(info.value) == "invalid model option host=42: must be a URL such as http://localhost:11434"


# -- 6. redaction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
        ("postgres://u:p@ss@host:5432/db", "postgres://u:***@host:5432/db"),  # '@' in the password
        ("http://u:p/w@host:2024/x", "http://u:***@host:2024/x"),  # unencoded '/'
        ("http://u:x@host/p?to=a@b.org", "http://u:***@host/p?to=a@b.org"),  # '@' in the query
        ("http://:token@host", "http://:***@host"),
        ("at 'http://a:b@h:1' and https://c:d@e/f", "at 'http://a:***@h:1' and https://c:***@e/f"),
        ("postgresql://h/db?sslmode=require&password=zz", "postgresql://h/db?sslmode=require&password=***"),
        ("http://user@host:2024", "http://user@host:2024"),  # a user name alone is no secret
        ("no url: a:b@c", "no url: a:b@c"),
    ],
)
def test_redact_credentials(text: str, shown: str) -> None:
    assert redact_credentials(text) == shown


def test_checkpointing_masks_passwords_with_the_shared_helper() -> None:
    with pytest.raises(CheckpointerError) as info, open_checkpointer("mysql://root:hunter2@db/x"):
        pass
    assert "hunter2" not in str(info.value) and "mysql://root:***@db/x" in str(info.value)
    assert describe_target("postgresql://u:hunter2@db.example/x") == "PostgreSQL at db.example:5432/x"


async def _ask(url: str) -> str:
    return await ask_remote_expert(url, "scientist", [], Context(), timeout_s=5)


async def test_experts_server_down_masks_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(self: Any, url: str, **kwargs: Any) -> Any:
        raise httpx.ConnectError(f"connection refused: {url}")

    monkeypatch.setattr(httpx.AsyncClient, "get", down)
    with pytest.raises(ExpertsUnavailableError) as info:
        await _ask("http://ann:hunter2@experts.example:2024")
    assert str(info.value) == (
        "cannot reach the experts server at http://ann:***@experts.example:2024: "
        "is `langgraph dev` (or a LangGraph Server) running?"
    )


async def test_experts_server_error_masks_the_password_in_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph.pregel.remote import RemoteGraph

    async def up(self: Any, url: str, **kwargs: Any) -> Any:
        return httpx.Response(200)

    async def fails(self: Any, *args: Any, **kwargs: Any) -> Any:
        request = httpx.Request("POST", "http://ann:hunter2@experts.example:2024/runs")
        response = httpx.Response(502, request=request, text="bad gateway for http://ann:hunter2@up:1")
        raise httpx.HTTPStatusError("502", request=request, response=response)

    monkeypatch.setattr(httpx.AsyncClient, "get", up)
    monkeypatch.setattr(RemoteGraph, "ainvoke", fails)
    with pytest.raises(ExpertsUnavailableError) as info:
        await _ask("http://ann:hunter2@experts.example:2024")
    assert "hunter2" not in str(info.value)
    assert str(info.value).startswith(
        "the experts server at http://ann:***@experts.example:2024 answered 502"
    )


async def test_a_broken_connection_mid_run_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph.pregel.remote import RemoteGraph

    async def up(self: Any, url: str, **kwargs: Any) -> Any:
        return httpx.Response(200)

    async def drops(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    monkeypatch.setattr(httpx.AsyncClient, "get", up)
    monkeypatch.setattr(RemoteGraph, "ainvoke", drops)
    with pytest.raises(ExpertsUnavailableError) as info:
        await _ask("http://ann:pw@experts.example:2024")
    assert str(info.value) == (
        "the scientist graph at http://ann:***@experts.example:2024 failed: RemoteProtocolError: "
        "peer closed connection without sending complete message body"
    )


# -- 5. .env stays out of git --------------------------------------------------------------------


def test_dot_env_is_ignored_but_its_example_is_not() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    lines = (root / ".gitignore").read_text("utf-8").splitlines()
    assert ".env" in lines and "!.env.example" in lines
