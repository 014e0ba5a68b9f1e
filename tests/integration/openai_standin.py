"""A stand-in OpenAI-compatible server on 127.0.0.1: real HTTP, scripted replies, recorded requests.

It speaks the part of the chat-completions protocol that vLLM, TGI and
llama-server share: ``GET /v1/models`` and ``POST /v1/chat/completions``, as one
JSON reply or, with ``"stream": true``, as server-sent events ending in
``data: [DONE]``. With ``tool_call`` set, the first reply calls that tool.

Usage::

    with OpenAIStandIn(models=["qwen"], chunks=["Hel", "lo"]) as server:
        model = load_chat_model("openai/qwen", base_url=server.url)
        server.chat_requests[-1]["temperature"]
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: the SSE stream ends when the connection closes; no chunked encoding needed.
    protocol_version = "HTTP/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "standin"} for m in self.server.standin.models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        standin = self.server.standin
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": "not found"}})
            return
        standin.chat_requests.append(body)
        if body.get("model") not in standin.models:
            self._send_json(404, {"error": {"message": f"model {body.get('model')} not found"}})
            return
        call = standin.tool_call if standin.tool_call and len(standin.chat_requests) == 1 else None
        if body.get("stream"):
            self._send_stream(body["model"], standin.chunks, call)
        else:
            self._send_json(200, _completion(body["model"], "".join(standin.chunks), call))

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, model: str, chunks: Sequence[str], call: dict[str, Any] | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": c} for c in chunks]
        if call:
            deltas = [{"role": "assistant", "tool_calls": [_tool_call(call) | {"index": 0}]}]
        for delta in deltas:
            self._event(_chunk(model, delta, None))
        self._event(_chunk(model, {}, "tool_calls" if call else "stop"))
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    arguments = json.dumps(call["args"])
    return {"id": "call_1", "type": "function", "function": {"name": call["name"], "arguments": arguments}}


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [choice]}


def _completion(model: str, text: str, call: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if call else text}
    if call:
        message["tool_calls"] = [_tool_call(call)]
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": len(text), "total_tokens": 3 + len(text)},
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: OpenAIStandIn


class OpenAIStandIn:
    """A real HTTP server on a free 127.0.0.1 port; ``url`` is its ``/v1`` root."""

    def __init__(
        self,
        models: Sequence[str] = ("standin-model",),
        chunks: Sequence[str] = ("Hel", "lo"),
        tool_call: dict[str, Any] | None = None,
    ) -> None:
        self.models = list(models)
        self.chunks = list(chunks)
        self.tool_call = tool_call
        self.chat_requests: list[dict[str, Any]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
