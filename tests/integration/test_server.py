"""The council over HTTP: a real `langgraph dev` (no --allow-blocking), the real langgraph-sdk client.

One server per module serves the repo's langgraph.json on the embedded model;
the remote-mode tests add a second server that hosts only the experts. The
first council run pays for loading the model and building the index inside
the server (a minute or more on a small shared CPU); replies are kept short.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.integration.servers import LanggraphDev, ServerStartError, free_port

pytestmark = pytest.mark.timeout(900)

GRAPHS = {"compliance", "scientist", "legal_expert"}
EXPERTS = ["scientist", "legal_expert"]
#: Runs served at once. `langgraph dev` runs one at a time unless told otherwise, and a
#: council consulting experts on the same server would wait on itself.
JOBS_PER_SERVER = 4


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One retrieval index for every run in the module: the first run builds it."""
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="module")
def context() -> dict[str, Any]:
    # retrieval_k 3 (default 6): shorter prompts, and prefill is most of a turn on CPU.
    return {"max_new_tokens": 16, "web_search": False, "retrieval_k": 3}


@pytest.fixture(scope="module")
def dead_url() -> str:
    """An experts URL nothing listens on (allowed by the operator, to test a server that is down)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A document collection the operator offers under the name "policies"."""
    folder = tmp_path_factory.mktemp("policies")
    (folder / "retention.md").write_text(
        "# Data retention policy\n\nTriage chat transcripts are deleted after 30 days.\n", encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    index_dir: Path,
    experts_server: LanggraphDev,
    dead_url: str,
    policies: Path,
) -> Iterator[LanggraphDev]:
    log = tmp_path_factory.mktemp("council-server") / "server.log"
    # What a run may choose is the operator's: the index, the experts servers, the collections.
    env = {
        "COUNCIL_INDEX_DIR": str(index_dir),
        "COUNCIL_ALLOWED_EXPERTS_URLS": f"{experts_server.url},{dead_url}",
        "COUNCIL_DOC_COLLECTIONS": f"policies={policies}",
    }
    with LanggraphDev(log_path=log, n_jobs_per_worker=JOBS_PER_SERVER, env=env) as dev:
        yield dev


@pytest.fixture(scope="module")
def experts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanggraphDev]:
    """A second server that hosts only the expert graphs, as an experts host would."""
    log = tmp_path_factory.mktemp("experts-server") / "server.log"
    with LanggraphDev(log_path=log, graphs=EXPERTS, n_jobs_per_worker=JOBS_PER_SERVER) as dev:
        yield dev


@pytest.fixture
def client(server: LanggraphDev) -> LangGraphClient:
    return get_client(url=server.url)


async def stream_turn(
    client: LangGraphClient, thread_id: str, task: str, context: dict[str, Any]
) -> dict[str, Any]:
    """Stream one council turn with ``messages-tuple``; tokens per persona and timings."""
    tokens: dict[str, list[str]] = {}
    started = time.monotonic()
    first_token: float | None = None
    async for part in client.runs.stream(
        thread_id, "compliance", input=user(task), context=context, stream_mode="messages-tuple"
    ):
        if part.event == "error":
            pytest.fail(f"run failed: {part.data}")
        if part.event != "messages":
            continue
        chunk, metadata = part.data
        if chunk["type"] == "AIMessageChunk" and isinstance(chunk["content"], str) and chunk["content"]:
            first_token = first_token or time.monotonic()
            tokens.setdefault(str(metadata.get("persona")), []).append(chunk["content"])
    return {"tokens": tokens, "started": started, "first_token": first_token, "ended": time.monotonic()}


async def values_of(client: LangGraphClient, thread_id: str) -> dict[str, Any]:
    state: Any = await client.threads.get_state(thread_id)
    return dict(state["values"])


async def run_error(client: LangGraphClient, thread_id: str, graph: str, **kw: Any) -> dict[str, Any]:
    """Run `graph` on the thread expecting it to fail; the run's ``__error__`` (and its status)."""
    run = await client.runs.create(thread_id, graph, **kw)
    joined: Any = await client.runs.join(thread_id, run["run_id"])
    assert isinstance(joined, dict) and "__error__" in joined, joined
    status = (await client.runs.get(thread_id, run["run_id"]))["status"]
    return {**joined["__error__"], "status": status}


# -- the graphs on the server ---------------------------------------------------------


async def test_serves_exactly_the_three_graphs_with_the_context_as_settings(client: LangGraphClient) -> None:
    assistants = await client.assistants.search()
    assert sorted(a["graph_id"] for a in assistants) == sorted(GRAPHS)
    for assistant in assistants:
        schemas: Any = await client.assistants.get_schemas(assistant["assistant_id"])
        # Studio shows the Context's settings, with their descriptions, for every graph.
        settings = schemas["context_schema"]["properties"]
        assert {"model", "max_new_tokens", "index_dir", "web_search", "experts_url"} <= set(settings)
        assert "COUNCIL_EXPERTS_URL" in settings["experts_url"]["description"]


async def test_input_schema_asks_only_for_messages(client: LangGraphClient) -> None:
    for assistant in await client.assistants.search():
        schemas: Any = await client.assistants.get_schemas(assistant["assistant_id"])
        assert schemas["input_schema"] is not None, f"{assistant['graph_id']}: no input schema"
        assert set(schemas["input_schema"]["properties"]) == {"messages"}
        if assistant["graph_id"] == "compliance":
            assert {"report", "opinions", "sources"} <= set(schemas["output_schema"]["properties"])


async def test_malformed_input_fails_the_run_clearly_and_the_server_keeps_serving(
    server: LanggraphDev, client: LangGraphClient, context: dict[str, Any]
) -> None:
    thread = await client.threads.create()
    no_messages = await run_error(client, thread["thread_id"], "compliance", input={}, context=context)
    assert no_messages["status"] == "error"
    assert (no_messages["error"], no_messages["message"]) == (
        "ValueError",
        "the input needs 'messages': a list of messages ending with the user's task",
    )

    thread = await client.threads.create()
    wrong_type = await run_error(
        client, thread["thread_id"], "compliance", input={"messages": 5}, context=context
    )
    assert wrong_type["status"] == "error"
    # Raised by the messages reducer before the first node: it names the field and what it got.
    assert wrong_type["error"] == "ValueError", wrong_type
    assert wrong_type["message"].startswith("'messages' must be a list of messages"), wrong_type
    assert "Unsupported message type: <class 'int'>" in wrong_type["message"], wrong_type

    thread = await client.threads.create()
    empty = await run_error(client, thread["thread_id"], "compliance", input=user("  "), context=context)
    assert empty["message"] == "the task is empty: the last human message must say what to draft"

    # Still serving: a good run of an expert graph (the cheapest real model run) succeeds.
    assert server.ok()
    values: Any = await client.runs.wait(
        None, "scientist", input=user("Name one control for a triage chatbot."), context={"max_new_tokens": 8}
    )
    reply = values["messages"][-1]
    assert (reply["type"], reply["name"]) == ("ai", "scientist") and reply["content"].strip()


# -- the council over HTTP ------------------------------------------------------------


async def test_streams_tokens_of_several_personas_and_a_follow_up_sees_the_first_turn(
    client: LangGraphClient, context: dict[str, Any]
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    first = await stream_turn(client, thread_id, "Policy for a hospital triage chatbot in the EU", context)
    speakers = {p for p, chunks in first["tokens"].items() if len(chunks) > 1}
    # Each speaker's reply arrives token by token, told apart by the `persona` metadata.
    assert {"scientist", "legal_expert", "coordinator"} <= speakers, first["tokens"].keys()
    turn1 = await values_of(client, thread_id)
    assert [m["type"] for m in turn1["messages"]] == ["human", "ai"]
    assert turn1["messages"][1]["content"] == turn1["report"]
    assert {o["persona"] for o in turn1["opinions"]} == set(EXPERTS)

    # The follow-up's experts (their `consult` task input) get the first turn as what it decided:
    # the thread's task and the "decided so far" block, never the conversation or the earlier report.
    consults: list[dict[str, Any]] = []
    async for part in client.runs.stream(
        thread_id,
        "compliance",
        input=user("Now make the privacy part stricter"),
        context=context,
        stream_mode="tasks",
    ):
        if part.event == "error":
            pytest.fail(f"follow-up failed: {part.data}")
        task = part.data if part.event == "tasks" else {}
        if task.get("name") == "consult" and "input" in task:
            consults.append(task["input"])
    assert len(consults) == 2, consults
    for sent in consults:
        assert sent["messages"] == []
        assert sent["task"].startswith("Policy for a hospital triage chatbot in the EU")
        assert "Decided in earlier turns of this thread" in sent["task"]
        assert turn1["report"] not in sent["task"] and "## Applicability assumptions" not in sent["task"]

    turn2 = await values_of(client, thread_id)
    assert [m["type"] for m in turn2["messages"]] == ["human", "ai", "human", "ai"]
    assert turn2["messages"][1]["content"] == turn1["report"]  # the first turn is kept as it was
    # The follow-up revises the thread's standard: same task (title), this turn's request beside it.
    first_task = "Policy for a hospital triage chatbot in the EU"
    assert turn2["task"] == first_task
    assert turn2["report"].startswith(f"# AI compliance standard: {first_task}")
    assert turn2["changes"] and any(r["level"] == "strict" for r in turn2["requirements"])
    assert turn2["report"] == turn2["messages"][3]["content"] != turn1["report"]


async def test_two_threads_run_at_once_without_seeing_each_other(
    client: LangGraphClient, context: dict[str, Any]
) -> None:
    tasks = {"Rules for an AI hiring screener": "", "Controls for a face-recognition door lock": ""}
    for task in tasks:
        tasks[task] = (await client.threads.create())["thread_id"]
    runs = await asyncio.gather(*(stream_turn(client, tid, task, context) for task, tid in tasks.items()))
    # Both were streaming tokens before either finished: the server ran them side by side.
    assert max(r["first_token"] for r in runs) < min(r["ended"] for r in runs), runs

    for task, thread_id in tasks.items():
        other = next(t for t in tasks if t != task)
        values = await values_of(client, thread_id)
        assert [m["type"] for m in values["messages"]] == ["human", "ai"]
        assert values["messages"][0]["content"] == task and values["task"] == task
        assert task in values["report"] and other not in values["report"]
        assert all(other not in str(o) for o in values["opinions"])


# -- what a run may choose -------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"model": "hf/gpt2"}, "model: 'hf/gpt2' is not allowed on this server (allowed: hf/embedded)"),
        ({"legal_expert_model": "ollama/llama3"}, "legal_expert_model: 'ollama/llama3' is not allowed"),
        ({"docs_dir": "/etc"}, "docs_dir: '/etc' is not a document collection of this server"),
        ({"index_dir": "/tmp/elsewhere"}, "index_dir: is set by the server's operator, not by a run"),
        ({"experts_url": "http://10.0.0.1:2024"}, "experts_url: 'http://10.0.0.1:2024' is not allowed"),
    ],
)
async def test_a_run_cannot_pick_files_urls_or_models_the_operator_did_not_allow(
    client: LangGraphClient, context: dict[str, Any], setting: dict[str, str], message: str
) -> None:
    thread = await client.threads.create()
    error = await run_error(
        client,
        thread["thread_id"],
        "compliance",
        input=user("Policy for a chatbot"),
        context={**context, **setting},
    )
    assert (error["status"], error["error"]) == ("error", "RunRefused"), error
    assert error["message"].startswith(message), error["message"]
    values = await values_of(client, thread["thread_id"])
    assert not values.get("passages") and not values.get("report")  # refused before any work
    if "model" in next(iter(setting)):
        expert_thread = (await client.threads.create())["thread_id"]
        expert = await run_error(client, expert_thread, "scientist", input=user("A DPIA?"), context=setting)
        assert expert["error"] == "RunRefused"


async def test_a_run_chooses_documents_by_collection_name(
    client: LangGraphClient, context: dict[str, Any]
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    await stream_turn(
        client, thread_id, "Policy for a triage chatbot in the EU", {**context, "docs_dir": "policies"}
    )
    values = await values_of(client, thread_id)
    assert any(p["origin"] == "docs" and "retention" in p["source_id"] for p in values["passages"]), [
        p["source_id"] for p in values["passages"]
    ]


# -- human review ---------------------------------------------------------------------

LOAN = "An EU bank uses an AI model it bought to score loan applicants"


async def test_review_pauses_in_the_thread_state_and_resumes_with_approval_or_a_correction(
    client: LangGraphClient, context: dict[str, Any]
) -> None:
    approve, correct = [(await client.threads.create())["thread_id"] for _ in range(2)]
    for thread_id in (approve, correct):
        await client.runs.wait(thread_id, "compliance", input=user(LOAN), context={**context, "review": True})
        # The pause is in the thread's state, where Studio's thread view and the SDK read it.
        thread: Any = await client.threads.get(thread_id)
        assert thread["status"] == "interrupted", thread["status"]
        state: Any = await client.threads.get_state(thread_id)
        assert state["next"] == ["review"]
        (pause,) = state["interrupts"]
        payload = pause["value"]
        assert payload["kind"] == "review_facts"
        roles = next(row for row in payload["facts"] if row["key"] == "roles")
        assert (roles["number"], roles["value"], roles["source"]) == (2, ["deployer"], "rule")
        assert roles["reason"] and "provider" in roles["choices"]
        assert "report" not in state["values"] or not state["values"]["report"]
    paused = {r["id"] for r in payload["requirements"]}

    # The resumes are sent without `review` in their context: the turn remembers it paused.
    await asyncio.gather(
        client.runs.wait(approve, "compliance", command={"resume": "approve"}, context=context),
        client.runs.wait(
            correct, "compliance", command={"resume": {"facts": {"roles": ["provider"]}}}, context=context
        ),
    )
    approved = await values_of(client, approve)
    assert approved["review"] == {"status": "approved", "corrected": [], "note": ""}
    assert {r["id"] for r in approved["requirements"]} == paused
    assert "the reviewer approved these assumptions" in approved["report"]
    assert [m["type"] for m in approved["messages"]] == ["human", "ai"]

    corrected = await values_of(client, correct)
    assert corrected["facts"]["roles"]["value"] == ["provider"]
    after = {r["id"] for r in corrected["requirements"]}
    # The correction changed the obligations: the provider's duties in, the deployer's out.
    assert any(i.startswith("eu-ai-act.art-9.") for i in after - paused), after - paused
    assert any(i.startswith("eu-ai-act.art-26.") for i in paused - after), paused - after
    report = corrected["report"]
    assert "the reviewer corrected A2 (Your role(s))" in report
    assert "Art. 9" in report and "corrected by the reviewer before drafting" in report
    assert (await client.threads.get(correct))["status"] == "idle"

    # Answering again is a clear error, not a second report; so is answering a thread never paused.
    for thread_id in (approve, (await client.threads.create())["thread_id"]):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await client.runs.wait(thread_id, "compliance", command={"resume": "approve"}, context=context)
        assert refused.value.response.status_code == 409
        assert "is not paused" in refused.value.response.json()["detail"]
    assert [m["type"] for m in (await values_of(client, approve))["messages"]] == ["human", "ai"]


def test_a_paused_thread_survives_a_server_restart(
    tmp_path: Path, context: dict[str, Any], index_dir: Path
) -> None:
    env = {"COUNCIL_INDEX_DIR": str(index_dir)}
    with LanggraphDev(log_path=tmp_path / "server.log", env=env) as dev:
        client = get_client(url=dev.url)

        async def pause() -> str:
            thread_id = (await client.threads.create())["thread_id"]
            await client.runs.wait(
                thread_id, "compliance", input=user(LOAN), context={**context, "review": True}
            )
            return thread_id

        thread_id = asyncio.run(pause())
        dev.restart()  # SIGTERM: the in-memory server saves its threads and checkpoints, then stops
        client = get_client(url=dev.url)

        async def resume() -> dict[str, Any]:
            state: Any = await client.threads.get_state(thread_id)
            assert state["next"] == ["review"] and state["interrupts"][0]["value"]["kind"] == "review_facts"
            await client.runs.wait(thread_id, "compliance", command={"resume": "2=provider"}, context=context)
            return await values_of(client, thread_id)

        values = asyncio.run(resume())
    assert values["facts"]["roles"]["value"] == ["provider"]
    assert "the reviewer corrected A2 (Your role(s))" in values["report"]
    assert [m["type"] for m in values["messages"]] == ["human", "ai"]


# -- remote experts -------------------------------------------------------------------


async def test_dead_experts_server_fails_the_run_fast_with_one_line(
    client: LangGraphClient, context: dict[str, Any], dead_url: str
) -> None:
    dead = dead_url  # nothing listens there
    thread = await client.threads.create()
    started = time.monotonic()
    error = await run_error(
        client,
        thread["thread_id"],
        "compliance",
        input=user("Policy for a triage chatbot"),
        context={**context, "experts_url": dead, "experts_timeout_s": 300},
    )
    elapsed = time.monotonic() - started
    assert error["status"] == "error"
    assert error["error"] == "ExpertsUnavailableError"
    assert error["message"] == (
        f"cannot reach the experts server at {dead}: is `langgraph dev` (or a LangGraph Server) running?"
    )
    # A refused connection ends the run at once (agents.remote probes before the SDK, which
    # would retry the connect for ~8 s), not after the 300 s timeout.
    assert elapsed < 60, elapsed


async def test_a_refused_connection_is_reported_before_the_sdk_is_called(monkeypatch) -> None:
    from langchain_core.messages import HumanMessage
    from langgraph.pregel.remote import RemoteGraph

    from agents.remote import ExpertsUnavailableError, ask_remote_expert
    from graphs.context import Context

    dead = f"http://127.0.0.1:{free_port()}"

    async def sdk_call(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the probe should have failed first")

    monkeypatch.setattr(RemoteGraph, "ainvoke", sdk_call)
    expected = re.escape(f"cannot reach the experts server at {dead}")
    with pytest.raises(ExpertsUnavailableError, match=expected):
        await ask_remote_expert(dead, "scientist", [HumanMessage("A DPIA?")], Context(), timeout_s=30)


async def test_council_consults_the_experts_on_a_second_server(
    client: LangGraphClient, context: dict[str, Any], experts_server: LanggraphDev
) -> None:
    experts = get_client(url=experts_server.url)
    assert sorted(a["graph_id"] for a in await experts.assistants.search()) == sorted(EXPERTS)

    thread_id = (await client.threads.create())["thread_id"]
    remote = {**context, "experts_url": experts_server.url}
    turn = await stream_turn(client, thread_id, "Policy for a hospital triage chatbot in the EU", remote)
    assert "coordinator" in turn["tokens"]
    values = await values_of(client, thread_id)
    assert {o["persona"] for o in values["opinions"]} == set(EXPERTS)
    for opinion in values["opinions"]:
        assert opinion["model"] == f"hf/embedded @ {experts_server.url}"
        assert opinion["answer"].strip()

    # The experts server ran each expert graph once for this turn (stateless runs: in its log).
    log = re.sub(r"\x1b\[[0-9;]*m", "", experts_server.log_path.read_text(errors="replace"))
    succeeded = re.findall(r"Background run succeeded.*?graph_id=(\w+)", log)
    assert sorted(succeeded) == sorted(EXPERTS), experts_server.log_tail()


# -- the harness itself ---------------------------------------------------------------


def test_harness_runs_isolated_and_stops_its_process_group(tmp_path: Path) -> None:
    repo_state = Path(__file__).resolve().parents[2] / ".langgraph_api"
    existed = repo_state.exists()
    with LanggraphDev(log_path=tmp_path / "server.log", graphs=["scientist"]) as dev:
        assert dev.url.startswith("http://127.0.0.1:") and dev.ok()
        assert dev.proc is not None
        pid, port, workdir = dev.proc.pid, dev.port, dev.workdir
        assert workdir is not None and (workdir / ".langgraph_api").is_dir()
        assert list(json.loads((workdir / "langgraph.json").read_text())["graphs"]) == ["scientist"]
    assert dev.proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # no process of its group is left
    assert not workdir.exists()
    assert repo_state.exists() == existed  # the server's state went to its own directory
    with socket.socket() as s:
        # Nothing listens there any more (SO_REUSEADDR: closed connections may linger in TIME_WAIT).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_harness_reports_a_server_that_cannot_start(tmp_path: Path) -> None:
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"dependencies": ["."], "graphs": {"broken": "./missing.py:graph"}}))
    with pytest.raises(ServerStartError) as exc, LanggraphDev(config, log_path=tmp_path / "server.log"):
        pass
    message = str(exc.value)
    assert "before answering /ok" in message
    assert "missing.py" in message  # the log tail says what went wrong
