"""API keys and thread ownership on a real `langgraph dev` (no model runs: only the HTTP API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.integration.servers import LanggraphDev

pytestmark = pytest.mark.timeout(300)

KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-9876543210"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanggraphDev]:
    keys = ",".join(f"{user}={key}" for user, key in KEYS.items())
    log = tmp_path_factory.mktemp("auth-server") / "server.log"
    with LanggraphDev(log_path=log, env={"COUNCIL_API_KEYS": keys}) as dev:
        yield dev


def client_for(server: LanggraphDev, user: str) -> Any:
    return get_client(url=server.url, headers={"Authorization": f"Bearer {KEYS[user]}"})


def test_a_request_without_a_valid_key_gets_401(server: LanggraphDev) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Api-Key": "alice-key"}):
        reply = httpx.post(f"{server.url}/threads/search", json={}, headers=headers, timeout=30)
        assert reply.status_code == 401, (headers, reply.text)
        assert "missing or invalid API key" in reply.text
    # The key works as X-Api-Key too.
    ok = httpx.post(f"{server.url}/threads/search", json={}, headers={"X-Api-Key": KEYS["bob"]}, timeout=30)
    assert ok.status_code == 200


async def test_threads_and_runs_belong_to_their_owner(server: LanggraphDev) -> None:
    alice, bob = client_for(server, "alice"), client_for(server, "bob")
    thread = await alice.threads.create(metadata={"owner": "bob"})  # a caller cannot claim another owner
    thread_id = thread["thread_id"]
    assert thread["metadata"]["owner"] == "alice"
    assert [t["thread_id"] for t in await alice.threads.search()] == [thread_id]
    assert await bob.threads.search() == []
    for call in (
        bob.threads.get(thread_id),
        bob.threads.get_state(thread_id),
        bob.runs.list(thread_id),
        bob.runs.create(thread_id, "compliance", input={"messages": []}),
    ):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await call
        assert refused.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await bob.threads.delete(thread_id)
    assert refused.value.response.status_code == 404
    assert (await alice.threads.get(thread_id))["thread_id"] == thread_id


async def test_everyone_sees_the_served_graphs_but_not_each_others_assistants(server: LanggraphDev) -> None:
    alice, bob = client_for(server, "alice"), client_for(server, "bob")
    served = {"compliance", "scientist", "legal_expert"}
    mine = await alice.assistants.create("compliance", name="alice's council", context={"max_rounds": 2})
    assert {a["graph_id"] for a in await bob.assistants.search()} == served
    assert mine["assistant_id"] not in {a["assistant_id"] for a in await bob.assistants.search()}
    assert mine["assistant_id"] in {a["assistant_id"] for a in await alice.assistants.search()}
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await bob.assistants.get(mine["assistant_id"])
    assert refused.value.response.status_code == 404


def test_an_open_server_says_so_when_it_starts(tmp_path: Path) -> None:
    with LanggraphDev(log_path=tmp_path / "server.log") as dev:
        assert "this server is OPEN to anyone who can reach it" in dev.log_tail(400)
        assert httpx.post(f"{dev.url}/threads/search", json={}, timeout=30).status_code == 200


async def test_the_resume_guard_reads_threads_as_the_caller(server: LanggraphDev) -> None:
    alice, bob = client_for(server, "alice"), client_for(server, "bob")
    thread_id = (await alice.threads.create())["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await alice.runs.create(thread_id, "compliance", command={"resume": "approve"})
    assert refused.value.response.status_code == 409  # hers, and not paused
    with pytest.raises(httpx.HTTPStatusError) as hidden:
        await bob.runs.create(thread_id, "compliance", command={"resume": "approve"})
    assert hidden.value.response.status_code == 404  # not his: he learns nothing about it
