"""The openai/ backend against a real llama.cpp `llama-server` on 127.0.0.1, serving the embedded GGUF.

Skipped, with the reason, where `bench/llama_cpp.py` has no built `llama-server`.
"""

import socket

import httpx
import pytest

from agents import load_chat_model
from agents.models.hf.embedded import embedded_gguf_path
from agents.models.preflight import forget_preflights

llama_cpp = pytest.importorskip("bench.llama_cpp", reason="bench/llama_cpp.py is not in this checkout")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url():
    if llama_cpp.llama_server_binary() is None:
        pytest.skip(llama_cpp.why_unavailable())
    with llama_cpp.serve(embedded_gguf_path(), port=_free_port(), threads=2) as url:
        yield f"{url}/v1"


def test_real_llama_server_streams_with_options(server_url):
    forget_preflights()
    served = [m["id"] for m in httpx.get(f"{server_url}/models").json()["data"]]
    model = load_chat_model(f"openai/{served[0]}", base_url=server_url, max_new_tokens=8, seed=1)
    chunks = [c.content for c in model.stream("Say hello.")]
    assert "".join(str(c) for c in chunks).strip()
    reply = model.invoke("Say hello.")
    # max_tokens reached the server: the reply stops at 8 tokens.
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] <= 8
