"""The retrieval tool for real: the bundled corpus with all-MiniLM-L6-v2, user documents with a real
PDF, the search_documents tool end to end, and Tavily through a stand-in HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tools import RetrievalSettings, get_retriever, search_documents
from tools.retrieval.corpus import CORPUS_DIR
from tools.retrieval.loaders import load_document
from tools.retrieval.retriever import Retriever, reset_retrievers

pytestmark = pytest.mark.skipif(
    not any(CORPUS_DIR.glob("*.md")), reason="the bundled corpus is not written yet"
)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("retrieval") / "index"


@pytest.fixture(scope="module")
def corpus(index_dir) -> Iterator[Retriever]:
    """The bundled corpus indexed once with the real embedding model."""
    reset_retrievers()
    retriever = get_retriever(RetrievalSettings(index_dir=index_dir, web=False))
    report = retriever.refresh(progress=False)
    assert report.warnings == [] and retriever.index.size > 50
    yield retriever
    reset_retrievers()


def _top(retriever: Retriever, query: str, k: int = 3) -> list[str]:
    return [p.source_id for p in retriever.search(query, k).passages]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("高风险人工智能系统必须让人能够监督和随时停止它吗？", "eu-ai-act:art-14"),
        ("我们的聊天机器人需要告诉用户他们在和AI对话吗", "eu-ai-act:art-50"),
        ("仅凭算法自动拒绝贷款申请，用户有什么权利？", "gdpr:art-22"),
        ("生成的图片和视频需要加标识吗", "cn-genai-measures:art-12"),
    ],
)
def test_chinese_queries_find_the_english_notes(corpus, query, expected):
    assert expected in _top(corpus, query)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Which AI practices are banned outright in the EU?", "eu-ai-act:art-5"),
        ("What must providers of general-purpose AI models with systemic risk do?", "eu-ai-act:art-51-55"),
        ("Must a Chinese generative AI service label synthetic content?", "cn-genai-measures:art-12"),
        ("When is a data protection impact assessment required?", "gdpr:art-35"),
        ("What are the four functions of the NIST AI risk management framework?", "nist-ai-rmf:overview"),
    ],
)
def test_english_queries_find_their_notes(corpus, query, expected):
    got = _top(corpus, query)
    assert expected in got or expected.split(":")[0] in {g.split(":")[0] for g in got}


def test_embeddings_are_normalised_padding_free_and_leave_thread_settings_alone(corpus):
    import torch

    from tools.retrieval.embeddings import DIMENSIONS, MiniLMEmbeddings

    before = torch.get_num_threads()
    embeddings = MiniLMEmbeddings()
    query = embeddings.embed_query("human oversight")
    assert torch.get_num_threads() == before  # the one-thread query setting was undone
    assert len(query) == DIMENSIONS and sum(x * x for x in query) == pytest.approx(1.0, abs=1e-4)
    # Batched with a longer text (so padded), the same text embeds the same: the pooling masks padding.
    docs = embeddings.embed_documents(["human oversight", "data governance for training sets " * 20])
    assert docs[0] == pytest.approx(query, abs=1e-5)
    similar = sum(a * b for a, b in zip(query, embeddings.embed_query("humans supervising AI"), strict=True))
    unrelated = sum(
        a * b for a, b in zip(query, embeddings.embed_query("fines for late tax returns"), strict=True)
    )
    assert similar > unrelated


def test_passages_carry_citation_data(corpus):
    passage = corpus.search("human oversight of high-risk AI", 1).passages[0]
    assert passage.source_id == "eu-ai-act:art-14"
    assert (passage.origin, passage.locator) == ("corpus", "Art. 14")
    assert passage.url and "eur-lex.europa.eu" in passage.url
    assert passage.title.startswith("EU Artificial Intelligence Act")


def test_reopening_an_unchanged_index_embeds_nothing(corpus, index_dir):
    from tools.retrieval.testing import HashingEmbeddings

    # Same folder, a counting embedder claiming the real model's id: an unchanged corpus needs no embedding.
    class Counting(HashingEmbeddings):
        model_id = "sentence-transformers/all-MiniLM-L6-v2"

    counting = Counting()
    report = Retriever(corpus.settings, embeddings=counting).refresh(progress=False)
    assert report.chunks_embedded == 0 and counting.embedded == []


def test_the_tool_end_to_end_with_env_settings(corpus, index_dir, monkeypatch):
    monkeypatch.setenv("COUNCIL_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("COUNCIL_WEB_SEARCH", "off")
    monkeypatch.delenv("COUNCIL_DOCS_DIR", raising=False)
    message = search_documents.invoke(
        {
            "type": "tool_call",
            "id": "1",
            "name": "search_documents",
            "args": {"query": "数据保护影响评估", "k": 2},
        }
    )
    assert '<passage id="gdpr:art-35"' in message.content
    assert message.artifact.passages[0].source_id == "gdpr:art-35"


# -- the user's documents, with a real PDF ----------------------------------------------------------


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: one Helvetica text line per string, one page per list, a correct xref."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    kids = []
    for i, lines in enumerate(pages):
        page_id, content_id = 4 + 2 * i, 5 + 2 * i
        kids.append(f"{page_id} 0 R")
        ops = (
            ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"] + [f"({escape(line)}) Tj T*" for line in lines] + ["ET"]
        )
        stream = "\n".join(ops).encode("latin-1")
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>"
        ).encode()
        objects[content_id] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()

    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for oid in sorted(objects):
        offsets[oid] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (oid, objects[oid])
    xref, size = len(out), max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[i] for i in range(1, size))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


POLICY_PAGES = [
    ["Hospital triage chatbot policy", "Scope: the chatbot answers patients before a nurse sees them."],
    [
        "Escalation rule: every report of chest pain is escalated to the duty nurse within two minutes.",
        "The nurse can override any triage category the chatbot proposes.",
    ],
]


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    (folder / "policy.pdf").write_bytes(make_pdf(POLICY_PAGES))
    (folder / "corrupt.pdf").write_bytes(
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> trailer broken"
    )
    (folder / "notes").mkdir()
    (folder / "notes" / "vendor.html").write_text(
        "<html><head><title>Vendor review</title></head><body><p>The vendor retrains the model every "
        "quarter and sends a model card.</p><script>ignore()</script></body></html>",
        "utf-8",
    )
    return folder


def test_the_handmade_pdf_has_real_text(docs):
    from pypdf import PdfReader

    reader = PdfReader(docs / "policy.pdf")
    assert len(reader.pages) == 2
    assert "chest pain" in reader.pages[1].extract_text()
    loaded = load_document(docs / "policy.pdf")
    assert [p for p, _ in loaded.pages] == [1, 2]


def test_user_documents_are_searchable_with_page_locators_and_bad_files_skipped(corpus, docs):
    retriever = Retriever(
        RetrievalSettings(index_dir=corpus.settings.index_dir, docs_dir=docs, web=False), index=corpus.index
    )
    report = retriever.refresh(progress=False)
    assert report.indexed == 2 and report.chunks_embedded == 3  # two PDF pages, one HTML page
    assert any(w.startswith("skipped corrupt.pdf: corrupt PDF") for w in report.warnings)

    result = retriever.search("how fast is chest pain escalated to a nurse?", 3)
    top = result.passages[0]
    assert (top.source_id, top.locator, top.origin) == ("docs:policy.pdf#p2-c1", "policy.pdf p. 2", "docs")
    assert any("corrupt.pdf" in w for w in result.warnings)
    html = retriever.search("vendor model card retraining", 3).passages[0]
    assert html.source_id == "docs:notes/vendor.html#p1-c1" and html.title == "Vendor review"
    assert "ignore()" not in html.text
    # The corpus is still there next to the documents.
    assert "eu-ai-act:art-14" in _top(retriever, "human oversight of high-risk AI systems")


def test_missing_docs_dir_through_the_tool(monkeypatch, tmp_path):
    monkeypatch.setenv("COUNCIL_DOCS_DIR", str(tmp_path / "no-such-folder"))
    content, artifact = search_documents.func("anything")  # type: ignore[misc]
    assert content.startswith("Error: documents directory not found:") and "no-such-folder" in content
    assert artifact.passages == []


# -- Tavily through a stand-in server on 127.0.0.1 ------------------------------------------------


class TavilyStandIn(BaseHTTPRequestHandler):
    """POST /search like Tavily; `mode` decides the answer."""

    mode = "ok"
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.mode == "slow":
            time.sleep(3)
        if self.mode == "quota":
            self._reply(432, {"detail": {"error": "This request exceeds your plan's set usage limit."}})
            return
        if self.mode == "garbage":
            self._reply(200, None, raw=b"<html>gateway error</html>")
            return
        results = [
            {
                "title": "Commission publishes AI Act guidelines",
                "url": "https://digital-strategy.ec.europa.eu/en/news/ai-act-guidelines",
                "content": "The Commission published guidelines on prohibited AI practices under Art. 5.",
                "score": 0.93,
            }
        ]
        self._reply(200, {"query": body.get("query"), "results": results[: body.get("max_results", 5)]})

    def _reply(self, status: int, payload: Any, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (the timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tavily(monkeypatch) -> Iterator[type[TavilyStandIn]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TavilyStandIn)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    TavilyStandIn.mode, TavilyStandIn.seen = "ok", []
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-standin")
    monkeypatch.setenv("COUNCIL_TAVILY_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield TavilyStandIn
    server.shutdown()
    server.server_close()


def _web_retriever(corpus: Retriever, timeout_s: float = 5.0) -> Retriever:
    settings = RetrievalSettings(index_dir=corpus.settings.index_dir, web=True, web_timeout_s=timeout_s)
    return Retriever(settings, index=corpus.index)


def test_web_results_over_real_http_merge_with_local_ones(corpus, tavily):
    result = _web_retriever(corpus).search("Which AI practices are prohibited in the EU?", 4)
    assert result.warnings == []
    origins = {p.origin for p in result.passages}
    assert origins == {"corpus", "web"}
    web = next(p for p in result.passages if p.origin == "web")
    assert web.url == "https://digital-strategy.ec.europa.eu/en/news/ai-act-guidelines"
    assert web.source_id.startswith("web:") and web.locator == "digital-strategy.ec.europa.eu"
    assert tavily.seen[0]["path"] == "/search" and tavily.seen[0]["auth"] == "Bearer tvly-standin"
    assert tavily.seen[0]["body"]["max_results"] == 4


@pytest.mark.parametrize(("mode", "reason"), [("quota", "HTTP 403/432/433"), ("garbage", "not valid JSON")])
def test_web_failures_over_real_http_degrade_to_local_results(corpus, tavily, mode, reason):
    tavily.mode = mode
    result = _web_retriever(corpus).search("Which AI practices are prohibited in the EU?", 3)
    assert [p.origin for p in result.passages] == ["corpus"] * 3
    assert len(result.warnings) == 1 and reason in result.warnings[0]


def test_a_slow_web_search_times_out_to_local_results(corpus, tavily):
    tavily.mode = "slow"
    started = time.monotonic()
    result = _web_retriever(corpus, timeout_s=0.5).search("prohibited AI practices", 3)
    assert time.monotonic() - started < 2.5
    assert [p.origin for p in result.passages] == ["corpus"] * 3
    assert "timed out after 0.5 s" in result.warnings[0]


def test_unreachable_web_service_degrades(corpus, monkeypatch):
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-standin")
    monkeypatch.setenv("COUNCIL_TAVILY_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    result = _web_retriever(corpus, timeout_s=2).search("prohibited AI practices", 2)
    assert len(result.passages) == 2
    assert "cannot connect" in result.warnings[0]
