"""A stand-in Ollama server on 127.0.0.1: real HTTP, scripted replies, recorded requests.

It speaks enough of Ollama's wire protocol for `ChatOllama` and the `ollama`
client: ``GET /api/tags``, ``GET /api/version``, ``POST /api/show`` and
``POST /api/chat`` (NDJSON stream, or one JSON object when ``"stream": false``).
Every chunk carries ``message``: the client's ``ChatResponse`` requires it, even
on the final ``done`` chunk.

Usage::

    with OllamaStandIn(models=["llama3.1:latest"], chunks=["Hel", "lo"]) as server:
        model = load_chat_model("ollama/llama3.1", host=server.url)
        ...
        server.chat_requests[-1]["options"]
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED_AT = "2025-01-01T00:00:00.000000Z"


@dataclass
class Recorded:
    """One request the stand-in received."""

    method: str
    path: str
    body: Any


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: the response ends when the connection closes, so the NDJSON
    # stream needs no chunked encoding and no connection outlives a test.
    protocol_version = "HTTP/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        standin = self.server.standin
        standin._record("GET", self.path, None)
        if self.path == "/api/tags":
            self._send_json(200, {"models": [_tag_entry(m) for m in standin.models]})
        elif self.path == "/api/version":
            self._send_json(200, {"version": "0.0.0-standin"})
        else:
            self._send_json(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        standin = self.server.standin
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        standin._record("POST", self.path, body)
        if self.path not in ("/api/show", "/api/chat"):
            self._send_json(404, {"error": "404 page not found"})
            return
        name = str(body.get("model", ""))
        if not standin.has_model(name):
            self._send_json(404, {"error": f"model '{name}' not found"})
            return
        if self.path == "/api/show":
            self._send_json(200, _show(name))
        elif body.get("stream", True):
            self._stream_chat(name)
        else:
            self._send_json(200, standin.whole_reply(name))

    def _stream_chat(self, name: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        for part in self.server.standin.reply_parts(name):
            self.wfile.write(json.dumps(part).encode() + b"\n")
            self.wfile.flush()

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: OllamaStandIn


def _canonical(name: str) -> str:
    return name if ":" in name.rpartition("/")[2] else f"{name}:latest"


def _tag_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": CREATED_AT,
        "size": 1234,
        "digest": "0" * 64,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "1B",
            "quantization_level": "Q4_0",
        },
    }


def _show(name: str) -> dict[str, Any]:
    return {
        "modelfile": f"FROM {name}",
        "parameters": 'stop "<|eot_id|>"',
        "template": "{{ .Prompt }}",
        "details": _tag_entry(name)["details"],
        "model_info": {"general.architecture": "llama", "llama.context_length": 8192},
        "capabilities": ["completion", "tools"],
        "modified_at": CREATED_AT,
    }


class OllamaStandIn:
    """A scripted Ollama server on a free port of 127.0.0.1.

    Attributes:
        models: Names `/api/tags` lists; a chat for any other model gets a 404, as in Ollama.
        chunks: Content pieces of the reply, one NDJSON line each.
        tool_calls: Ollama-format tool calls (``{"function": {"name", "arguments"}}``)
            sent in a chunk of their own before the final one.
        prompt_eval_count: Input tokens reported on the final chunk.
        eval_count: Output tokens reported on the final chunk.
        requests: Everything received, in order.
    """

    def __init__(
        self,
        models: Sequence[str] = ("llama3.1:latest",),
        chunks: Sequence[str] = ("The council ", "agrees ", "on clause 4."),
        tool_calls: Sequence[dict[str, Any]] = (),
        prompt_eval_count: int = 21,
        eval_count: int = 7,
    ) -> None:
        self.models = list(models)
        self.chunks = list(chunks)
        self.tool_calls = list(tool_calls)
        self.prompt_eval_count = prompt_eval_count
        self.eval_count = eval_count
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def text(self) -> str:
        """The full scripted reply."""
        return "".join(self.chunks)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("stand-in not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def chat_requests(self) -> list[Any]:
        """Bodies of the ``POST /api/chat`` requests, in order."""
        with self._lock:
            return [r.body for r in self.requests if r.method == "POST" and r.path == "/api/chat"]

    def has_model(self, name: str) -> bool:
        """Whether `name` is served, with Ollama's ``:latest`` default tag."""
        return _canonical(name) in {_canonical(m) for m in self.models}

    def reply_parts(self, name: str) -> list[dict[str, Any]]:
        """The NDJSON objects of one streamed reply."""
        parts = [self._chunk(name, {"role": "assistant", "content": c}) for c in self.chunks]
        if self.tool_calls:
            message = {"role": "assistant", "content": "", "tool_calls": self.tool_calls}
            parts.append(self._chunk(name, message))
        parts.append(self._final(name, {"role": "assistant", "content": ""}))
        return parts

    def whole_reply(self, name: str) -> dict[str, Any]:
        """The single object of a ``"stream": false`` reply."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return self._final(name, message)

    def _chunk(self, name: str, message: dict[str, Any]) -> dict[str, Any]:
        return {"model": name, "created_at": CREATED_AT, "message": message, "done": False}

    def _final(self, name: str, message: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._chunk(name, message),
            "done": True,
            "done_reason": "stop",
            "total_duration": 5_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": self.prompt_eval_count,
            "prompt_eval_duration": 2_000_000,
            "eval_count": self.eval_count,
            "eval_duration": 2_000_000,
        }

    def _record(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append(Recorded(method, path, body))

    def start(self) -> OllamaStandIn:
        """Listen on a free port and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.standin = self
        self._server = server
        # A short poll interval makes stop() quick; the default 0.5 s adds up over many tests.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="ollama-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket; later connects are refused."""
        if self._server is None or self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OllamaStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
