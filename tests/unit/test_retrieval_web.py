"""Web search degrade paths, through a transport-level fake (no sockets: unit tests have none).

The fake is a `requests` adapter mounted on the session the Tavily client sends
through, so everything above the wire (the client, its error mapping, our
handling) runs for real.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from requests.adapters import BaseAdapter

from tools.retrieval import retriever as retriever_module
from tools.retrieval.retriever import Retriever
from tools.retrieval.settings import RetrievalSettings
from tools.retrieval.testing import HashingEmbeddings
from tools.retrieval.web import MAX_WEB_QUERY_CHARS, search_web, web_source_id

RESULTS = {
    "query": "q",
    "results": [
        {
            "title": "AI Act news",
            "url": "https://news.example/ai-act",
            "content": "Article 50 applies in 2026.",
            "score": 0.9,
        },
        {"title": "No url", "content": "dropped"},
        {"title": "Bad url", "url": "javascript:alert(1)", "content": "dropped"},
        {"title": "", "url": "https://other.example/x", "content": "  Second result.  ", "score": "n/a"},
    ],
}


class FakeTransport(BaseAdapter):
    """Answers every request with `handler(request)`: a (status, body bytes) pair, or an exception."""

    def __init__(self, handler: Callable[[requests.PreparedRequest], tuple[int, bytes]]) -> None:
        super().__init__()
        self.handler = handler
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):  # type: ignore[override]
        self.sent.append(request)
        status, body = self.handler(request)
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def _session(handler) -> tuple[requests.Session, FakeTransport]:
    transport = FakeTransport(handler)
    session = requests.Session()
    session.mount("https://", transport)
    session.mount("http://", transport)
    return session, transport


def _ok(request):
    return 200, json.dumps(RESULTS).encode()


def test_results_become_web_passages_and_the_request_is_right():
    session, transport = _session(_ok)
    passages, warnings = search_web("x" * 1000, 3, 5.0, api_key="tvly-test", session=session)
    assert warnings == []
    assert [p.url for p in passages] == ["https://news.example/ai-act", "https://other.example/x"]
    first, second = passages
    assert first.source_id == web_source_id(first.url) and first.source_id.startswith("web:")
    assert (first.origin, first.title, first.locator, first.score) == (
        "web",
        "AI Act news",
        "news.example",
        0.9,
    )
    assert (second.title, second.text, second.score) == ("https://other.example/x", "Second result.", 0.0)
    request = transport.sent[0]
    assert request.url == "https://api.tavily.com/search"
    assert request.headers["Authorization"] == "Bearer tvly-test"
    body = json.loads(request.body or b"{}")
    assert body["max_results"] == 3 and len(body["query"]) == MAX_WEB_QUERY_CHARS


def test_base_url_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("COUNCIL_TAVILY_BASE_URL", "http://gateway.internal:9000/tavily/")
    session, transport = _session(_ok)
    search_web("q", 1, 5.0, api_key="k", session=session)
    assert transport.sent[0].url == "http://gateway.internal:9000/tavily/search"


def test_no_key_means_no_request_and_a_warning(monkeypatch):
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    session, transport = _session(_ok)
    passages, warnings = search_web("q", 3, 5.0, session=session)
    assert passages == [] and transport.sent == []
    assert warnings == ["web search skipped: TAVILY_API_KEY is not set (local results only)"]


def _status(code: int, body: bytes = b'{"detail": {"error": "limit reached"}}'):
    return lambda request: (code, body)


def _raise(exc: Exception):
    def handler(request):
        raise exc

    return handler


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (_status(429), "quota exceeded (HTTP 429): limit reached"),
        (_status(432), "plan or usage limit reached"),
        (_status(433), "plan or usage limit reached"),
        (_status(401), "API key was rejected"),
        (_status(400), "bad request (HTTP 400)"),
        (_status(500, b"oops"), "HTTP 500"),
        (_status(502, b""), "HTTP 502"),
        (_status(200, b"<html>not json</html>"), "not valid JSON"),
        (_status(200, b'{"results": "nope"}'), "unexpected reply: no 'results' list"),
        (_raise(requests.Timeout("read timed out")), "timed out after 5 s"),
        (_raise(requests.ConnectionError("refused")), "cannot connect"),
        (_raise(RuntimeError("anything else")), "RuntimeError: anything else"),
    ],
)
def test_every_failure_is_a_warning_never_an_exception(handler, expected):
    session, _ = _session(handler)
    passages, warnings = search_web("q", 3, 5.0, api_key="k", session=session)
    assert passages == []
    assert len(warnings) == 1 and expected in warnings[0] and "local results only" in warnings[0]


def test_a_hanging_server_is_abandoned_after_the_timeout():
    def slow(request):
        time.sleep(3)
        return _ok(request)

    session, _ = _session(slow)
    start = time.monotonic()
    passages, warnings = search_web("q", 3, 0.3, api_key="k", session=session)
    assert time.monotonic() - start < 2.5
    assert passages == [] and "timed out after 0.3 s" in warnings[0]


# -- merged into a search -------------------------------------------------------------------

NOTE = """---
id: eu-ai-act
title: EU AI Act
title_zh: 欧盟《人工智能法》
url: https://eur-lex.europa.eu/eli/reg/2024/1689/oj
---

## art-50 | Art. 50 | Transparency obligations | 透明度义务
Key terms: transparency, 透明度; chatbot disclosure, 聊天机器人披露
Providers must tell people they are interacting with an AI system.
摘要：提供者须告知用户其正在与人工智能系统交互。
"""


@pytest.fixture
def retriever(tmp_path, monkeypatch) -> Callable[[Callable], Retriever]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "eu-ai-act.md").write_text(NOTE, "utf-8")
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-test")

    def make(handler) -> Retriever:
        session, _ = _session(handler)
        monkeypatch.setattr(retriever_module, "search_web", functools.partial(search_web, session=session))
        settings = RetrievalSettings(index_dir=tmp_path / "index", web=True, web_timeout_s=2)
        return Retriever(settings, embeddings=HashingEmbeddings(), corpus_dir=Path(corpus))

    return make


def test_web_results_merge_with_local_passages(retriever):
    result = retriever(_ok).search("AI Act transparency obligations for chatbots", k=3)
    origins = [p.origin for p in result.passages]
    assert "corpus" in origins and "web" in origins
    assert result.passages[0].source_id == "eu-ai-act:art-50"  # ranked first by both local rankers
    web = [p for p in result.passages if p.origin == "web"]
    assert all(p.url and p.source_id == web_source_id(p.url) for p in web)
    assert result.warnings == []


@pytest.mark.parametrize("handler", [_status(432), _raise(requests.Timeout()), _status(200, b"{bad")])
def test_web_failure_keeps_local_results_and_warns(retriever, handler):
    result = retriever(handler).search("transparency", k=3)
    assert [p.source_id for p in result.passages] == ["eu-ai-act:art-50"]
    assert len(result.warnings) == 1 and result.warnings[0].startswith("web search failed")


def test_web_off_sends_nothing_and_warns_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-test")
    called = []
    monkeypatch.setattr(retriever_module, "search_web", lambda *a, **k: called.append(1))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "eu-ai-act.md").write_text(NOTE, "utf-8")
    settings = RetrievalSettings(index_dir=tmp_path / "index", web=False)
    result = Retriever(settings, embeddings=HashingEmbeddings(), corpus_dir=corpus).search("transparency")
    assert called == [] and result.warnings == []


def test_web_on_without_key_warns(tmp_path, monkeypatch):
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    settings = RetrievalSettings(index_dir=tmp_path / "index", web=True)
    result = Retriever(settings, embeddings=HashingEmbeddings(), corpus_dir=None).search("transparency")
    assert result.passages == []
    assert result.warnings == ["web search skipped: TAVILY_API_KEY is not set (local results only)"]


def _many(request):
    body = json.loads(request.body or b"{}")
    results = [
        {"title": f"r{i}", "url": f"https://web.example/{i}", "content": f"result {i}", "score": 1 - i / 10}
        for i in range(body["max_results"])
    ]
    return 200, json.dumps({"results": results}).encode()


@pytest.mark.parametrize(("k", "n_web"), [(1, 1), (3, 1), (6, 2), (9, 3)])
def test_web_takes_a_third_of_the_slots_after_local_passages(retriever, k, n_web, tmp_path):
    corpus = tmp_path / "corpus"
    for i in range(10):
        (corpus / f"note{i}.md").write_text(NOTE.replace("eu-ai-act", f"note-{i}"), "utf-8")
    result = retriever(_many).search("transparency obligations", k=k)
    origins = [p.origin for p in result.passages]
    assert origins == ["corpus"] * (k - n_web) + ["web"] * n_web
    scores = [p.score for p in result.passages]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_web_fills_the_slots_local_passages_cannot(retriever):
    result = retriever(_many).search("transparency obligations", k=6)
    assert [p.origin for p in result.passages] == ["corpus"] + ["web"] * 5
