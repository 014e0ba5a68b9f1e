"""What a served run may choose: the operator's allow-lists, checked before any work."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

import graphs.compliance as compliance
from graphs.context import Context
from graphs.limits import RunLimits, RunRefused
from tests.unit.council_fakes import ScriptedChatModel, use_model
from tools.retrieval.settings import RetrievalSettings, doc_collections, docs_folder


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch, tmp_path) -> RunLimits:
    for name in ("COUNCIL_MODEL", "COUNCIL_SCIENTIST_MODEL", "COUNCIL_DOCS_DIR", "COUNCIL_EXPERTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COUNCIL_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("COUNCIL_LEGAL_EXPERT_MODEL", "ollama/qwen2.5")
    monkeypatch.setenv("COUNCIL_ALLOWED_MODELS", "ollama/llama3.1, hf/HuggingFaceTB/SmolLM2-360M-Instruct")
    monkeypatch.setenv("COUNCIL_DOC_COLLECTIONS", f"policies={tmp_path / 'policies'},hr={tmp_path / 'hr'}")
    monkeypatch.setenv("COUNCIL_ALLOWED_EXPERTS_URLS", "http://experts.internal:2024")
    return RunLimits.from_env()


def test_the_operators_defaults_and_lists_are_allowed(operator: RunLimits, tmp_path) -> None:
    assert operator.models == {
        "hf/embedded",
        "ollama/qwen2.5",
        "ollama/llama3.1",
        "hf/HuggingFaceTB/SmolLM2-360M-Instruct",
    }
    ok = Context(model="ollama/llama3.1", legal_expert_model="ollama/qwen2.5", docs_dir="hr")
    operator.check(ok)
    operator.check(Context(experts_url="http://experts.internal:2024"))
    operator.check(Context(index_dir=str(tmp_path / "index")))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"model": "hf/gpt2"}, "model: 'hf/gpt2' is not allowed on this server"),
        ({"scientist_model": "hf//etc/passwd"}, "scientist_model: 'hf//etc/passwd' is not allowed"),
        ({"docs_dir": "/home"}, "docs_dir: '/home' is not a document collection of this server"),
        ({"docs_dir": "../policies"}, "docs_dir: '../policies' is not a document collection"),
        ({"index_dir": "/tmp/other"}, "index_dir: is set by the server's operator"),
        ({"experts_url": "http://169.254.169.254"}, "experts_url: 'http://169.254.169.254' is not allowed"),
    ],
)
def test_anything_else_is_refused_naming_the_field(operator: RunLimits, settings, message) -> None:
    with pytest.raises(RunRefused, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
        operator.check(Context(**settings))


def test_collections_name_folders(tmp_path) -> None:
    env = {"COUNCIL_DOC_COLLECTIONS": f"policies={tmp_path}"}
    assert doc_collections(env) == {"policies": str(tmp_path)}
    assert docs_folder("policies", env) == str(tmp_path) and docs_folder("/srv/x", env) == "/srv/x"
    with pytest.raises(ValueError, match=r"\$COUNCIL_DOC_COLLECTIONS: 'policies' is not 'name=path'"):
        doc_collections({"COUNCIL_DOC_COLLECTIONS": "policies"})


def test_a_run_names_its_documents_by_collection(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("COUNCIL_DOC_COLLECTIONS", f"policies={tmp_path}")
    settings = RetrievalSettings.from_context(Context(docs_dir="policies", index_dir=str(tmp_path / "i")))
    assert settings.docs_dir == tmp_path.absolute()


async def test_a_served_graph_refuses_before_any_work(monkeypatch, retriever, operator) -> None:
    model = use_model(monkeypatch, ScriptedChatModel())
    graph = compliance.build_graph(InMemorySaver(), limits=operator)
    config = {"configurable": {"thread_id": "served"}}
    refused = Context(model="hf/gpt2")
    with pytest.raises(RunRefused, match=r"^model: 'hf/gpt2'"):
        await graph.ainvoke({"messages": [HumanMessage("A chatbot")]}, config, context=refused)
    assert retriever.queries == [] and model.calls == []
    # The same graph runs an allowed request; the CLI's graph has no such check.
    allowed = Context(model="ollama/llama3.1", mode="workflow")
    out = await graph.ainvoke({"messages": [HumanMessage("A hiring screener")]}, config, context=allowed)
    assert out["report"]
    # The refused request does not stay in the thread as an unanswered turn.
    assert [m.text for m in out["messages"]] == ["A hiring screener", out["report"]]
    assert "admit" not in compliance.build_graph().get_graph().nodes


def test_a_run_may_only_name_the_operators_openai_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_OPENAI_BASE_URL", "http://vllm.internal:8000/v1")
    monkeypatch.setenv(
        "COUNCIL_ALLOWED_OPENAI_BASE_URLS", "http://tgi.internal:8080/v1, http://u:pw@lm:1234/v1"
    )
    limits = RunLimits.from_env()
    limits.check(Context())  # the operator's own server
    limits.check(Context(openai_base_url="http://tgi.internal:8080/v1"))
    limits.check(Context(openai_base_url=""))  # empty: the operator's env value
    with pytest.raises(RunRefused) as err:
        limits.check(Context(openai_base_url="http://169.254.169.254/v1"))
    message = str(err.value)
    assert message.startswith("openai_base_url: 'http://169.254.169.254/v1' is not allowed on this server")
    assert "http://vllm.internal:8000/v1" in message and "pw@" not in message and "u:***@lm" in message


def test_a_run_names_no_openai_server_when_the_operator_set_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COUNCIL_OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("COUNCIL_ALLOWED_OPENAI_BASE_URLS", raising=False)
    with pytest.raises(RunRefused, match=r"openai_base_url: 'http://attacker:8000/v1' .*\(allowed: none\)"):
        RunLimits.from_env().check(Context(openai_base_url="http://attacker:8000/v1"))


def test_model_options_carry_the_base_url_only_for_openai_specs() -> None:
    ctx = Context(openai_base_url="http://vllm.internal:8000/v1")
    assert ctx.model_options("openai/qwen")["base_url"] == "http://vllm.internal:8000/v1"
    assert "base_url" not in ctx.model_options("hf/embedded")
    assert "base_url" not in ctx.model_options()
