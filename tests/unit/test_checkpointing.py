"""graphs.checkpointing on SQLite (files under tmp_path) and PostgreSQL URL checks that need no server."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.checkpointing import (
    DEFAULT_DB_ENV,
    CheckpointerError,
    default_db_path,
    describe_target,
    is_postgres_url,
    open_async_checkpointer,
    open_checkpointer,
)
from graphs.threads import alist_threads, athread_exists, list_threads, thread_exists


def echo(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1]
    return {"messages": [AIMessage(f"echo: {last.content}")]}


def echo_graph(checkpointer: Any) -> CompiledStateGraph:
    builder = StateGraph(MessagesState)
    builder.add_node("echo", echo)
    builder.add_edge(START, "echo")
    builder.add_edge("echo", END)
    return builder.compile(checkpointer=checkpointer)


def cfg(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def one_line(exc: pytest.ExceptionInfo[CheckpointerError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and message.strip() == message and message
    return message


# -- targets -------------------------------------------------------------------------


def test_default_db_path_is_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    from platformdirs import user_data_dir

    monkeypatch.delenv(DEFAULT_DB_ENV, raising=False)
    path = default_db_path()
    assert path == Path(user_data_dir("compliance-council", appauthor=False)) / "threads.sqlite"


def test_default_db_path_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DEFAULT_DB_ENV, str(tmp_path / "x.sqlite"))
    assert default_db_path() == tmp_path / "x.sqlite"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("postgresql://u@h:5432/db", True),
        ("postgres://h/db", True),
        ("  PostgreSQL://h/db", True),
        ("/tmp/threads.sqlite", False),
        ("postgres.sqlite", False),
        (Path("postgresql://h/db"), False),
        (None, False),
        ("sqlite:///x.db", False),
    ],
)
def test_is_postgres_url(target: Any, expected: bool) -> None:
    assert is_postgres_url(target) is expected


def test_describe_target_hides_password() -> None:
    shown = describe_target("postgresql://alice:s3cret@127.0.0.1:6543/council")
    assert shown == "PostgreSQL at 127.0.0.1:6543/council"
    assert "s3cret" not in describe_target("postgresql://alice:s3cret@127.0.0.1:bad/council")


# -- SQLite --------------------------------------------------------------------------


def test_sqlite_creates_parent_dirs_and_persists(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "threads.sqlite"
    with open_checkpointer(db) as saver:
        echo_graph(saver).invoke({"messages": [HumanMessage("hello")]}, cfg("t1"))
    assert db.is_file()
    with open_checkpointer(str(db)) as saver:
        graph = echo_graph(saver)
        graph.invoke({"messages": [HumanMessage("again")]}, cfg("t1"))
        contents = [m.content for m in graph.get_state(cfg("t1")).values["messages"]]
    assert contents == ["hello", "echo: hello", "again", "echo: again"]
    # WAL: a reader never blocks the writer, e.g. `--list-threads` during a running turn.
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_default_target_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DEFAULT_DB_ENV, str(tmp_path / "env.sqlite"))
    with open_checkpointer() as saver:
        echo_graph(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
    assert (tmp_path / "env.sqlite").is_file()


def test_env_may_hold_a_postgres_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEFAULT_DB_ENV, "postgresql://u:hunter2@127.0.0.1:notaport/db")
    with pytest.raises(CheckpointerError, match="invalid PostgreSQL URL"), open_checkpointer():
        pass
    assert describe_target(None) == "postgresql://u:***@127.0.0.1:notaport/db"


def test_url_mangled_into_a_path_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    mangled = Path("postgresql://u:hunter2@127.0.0.1/db")
    with pytest.raises(CheckpointerError, match="URL passed as a file path"), open_checkpointer(mangled):
        pass
    assert list(tmp_path.iterdir()) == []


def test_sqlite_in_memory() -> None:
    with open_checkpointer(":memory:") as saver:
        echo_graph(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
        assert thread_exists(saver, "t")


async def test_async_sqlite_persists(tmp_path: Path) -> None:
    db = tmp_path / "async" / "threads.sqlite"
    async with open_async_checkpointer(db) as saver:
        await echo_graph(saver).ainvoke({"messages": [HumanMessage("one")]}, cfg("t"))
    async with open_async_checkpointer(db) as saver:
        graph = echo_graph(saver)
        await graph.ainvoke({"messages": [HumanMessage("two")]}, cfg("t"))
        state = await graph.aget_state(cfg("t"))
        assert len(state.values["messages"]) == 4
        assert await athread_exists(saver, "t")
        assert not await athread_exists(saver, "nope")
        [info] = await alist_threads(saver)
    assert (info.thread_id, info.messages, info.title) == ("t", 4, "one")


def test_path_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    db = blocker / "threads.sqlite"
    with pytest.raises(CheckpointerError) as exc, open_checkpointer(db):
        pass
    message = one_line(exc)
    assert message.startswith(f"cannot open thread database {db}: ")
    assert "not a directory" in message


def test_unwritable_location_under_proc() -> None:
    # Root ignores file modes, but nobody can create files in /proc.
    db = Path("/proc/threads.sqlite")
    with pytest.raises(CheckpointerError) as exc, open_checkpointer(db):
        pass
    message = one_line(exc)
    assert message.startswith(f"cannot open thread database {db}: ")


def test_unwritable_directory_under_proc() -> None:
    db = Path("/proc/compliance-council/threads.sqlite")
    with pytest.raises(CheckpointerError) as exc, open_checkpointer(db):
        pass
    assert "cannot create directory /proc/compliance-council" in one_line(exc)


def test_permission_denied_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The wording a user sees when a directory is not theirs; root cannot be refused by
    # chmod, so the refusal is simulated where the OS would make it.
    import graphs.checkpointing as cp

    def refuse(path: Any, flags: int, mode: int = 0o777) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    db = tmp_path / "threads.sqlite"
    with monkeypatch.context() as patch, pytest.raises(CheckpointerError) as exc:
        patch.setattr(cp.os, "open", refuse)
        with open_checkpointer(db):
            pass
    assert one_line(exc) == f"cannot open thread database {db}: permission denied"


def test_directory_given(tmp_path: Path) -> None:
    with pytest.raises(CheckpointerError) as exc, open_checkpointer(tmp_path):
        pass
    assert one_line(exc) == f"cannot open thread database {tmp_path}: is a directory, not a database file"


async def test_async_directory_given(tmp_path: Path) -> None:
    with pytest.raises(CheckpointerError, match="is a directory"):
        async with open_async_checkpointer(tmp_path):
            pass


def test_corrupt_file(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    db.write_bytes(b"this is not an SQLite database, just bytes " * 200)
    with pytest.raises(CheckpointerError) as exc, open_checkpointer(db):
        pass
    message = one_line(exc)
    assert message.startswith(f"cannot open thread database {db}: not a SQLite database")
    assert db.read_bytes().startswith(b"this is not")  # never overwritten


async def test_async_corrupt_file(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    db.write_bytes(b"garbage" * 1000)
    with pytest.raises(CheckpointerError, match="not a SQLite database"):
        async with open_async_checkpointer(db):
            pass


def test_errors_inside_the_block_pass_through(tmp_path: Path) -> None:
    with pytest.raises(KeyError), open_checkpointer(tmp_path / "t.sqlite"):
        raise KeyError("from the caller")


def test_checkpointer_error_is_a_value_error() -> None:
    assert issubclass(CheckpointerError, ValueError)


# -- PostgreSQL URL checks (no connection is attempted) ------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgres://[bad", "invalid PostgreSQL URL postgres://[bad: "),
        ("postgresql://u:hunter2@[::1/db", "invalid PostgreSQL URL postgresql://u:***@[::1/db: "),
        ("postgresql://u:hunter2@127.0.0.1:notaport/db", "bad port 'notaport'"),
        ("postgresql://127.0.0.1:99999/db", "bad port '99999'"),
        ("postgresql://u:hunter2@127.0.0.1/db?nonsense=1", 'invalid URI query parameter: "nonsense"'),
    ],
)
def test_bad_postgres_url(url: str, fragment: str) -> None:
    with pytest.raises(CheckpointerError) as exc, open_checkpointer(url):
        pass
    message = one_line(exc)
    assert fragment in message
    assert "hunter2" not in message


async def test_async_bad_postgres_url() -> None:
    with pytest.raises(CheckpointerError, match="bad port"):
        async with open_async_checkpointer("postgresql://127.0.0.1:0/db"):
            pass


def test_unsupported_url_scheme() -> None:
    with pytest.raises(CheckpointerError) as exc, open_checkpointer("mysql://root:pw@127.0.0.1/x"):
        pass
    assert one_line(exc).startswith("unsupported thread database mysql://root:***@127.0.0.1/x: ")


# -- threads -------------------------------------------------------------------------


def test_list_threads_on_sqlite(tmp_path: Path) -> None:
    with open_checkpointer(tmp_path / "t.sqlite") as saver:
        graph = echo_graph(saver)
        assert list_threads(saver) == []
        graph.invoke({"messages": [HumanMessage("\n  Draft a policy\nfor a triage bot")]}, cfg("older"))
        graph.invoke({"messages": [HumanMessage("stricter privacy")]}, cfg("older"))
        graph.invoke({"messages": [HumanMessage("制定人工智能合规标准" * 10)]}, cfg("newer"))
        threads = list_threads(saver)
        assert thread_exists(saver, "older") and not thread_exists(saver, "missing")

    assert [t.thread_id for t in threads] == ["newer", "older"]
    newer, older = threads
    assert older.title == "Draft a policy"
    assert older.messages == 4
    assert older.checkpoints == 6  # input, start, node: per turn
    assert newer.messages == 2 and newer.checkpoints == 3
    assert newer.title.endswith("…") and len(newer.title) == 72
    assert isinstance(older.updated_at, datetime) and older.updated_at.tzinfo is not None
    assert newer.updated_at is not None and newer.updated_at >= older.updated_at


def test_list_threads_generic_saver_and_non_message_state() -> None:
    class Counter(TypedDict):
        n: int

    builder = StateGraph(Counter)
    builder.add_node("inc", lambda s: {"n": s["n"] + 1})
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)
    saver = InMemorySaver()
    builder.compile(checkpointer=saver).invoke({"n": 1}, cfg("c"))
    [info] = list_threads(saver)
    assert (info.thread_id, info.messages, info.title) == ("c", None, "")


def test_list_threads_shows_a_turn_interrupted_before_its_first_step() -> None:
    # A process killed right after the input was saved leaves only the input checkpoint.
    saver = InMemorySaver()
    graph = echo_graph(saver)
    graph.invoke({"messages": [HumanMessage("first")]}, cfg("t"), interrupt_before=["echo"])
    [info] = list_threads(saver)
    assert info.title == "first" and info.messages == 1


def test_list_threads_ignores_subgraph_checkpoints() -> None:
    inner = echo_graph(None)
    builder = StateGraph(MessagesState)
    builder.add_node("inner", inner)
    builder.add_edge(START, "inner")
    builder.add_edge("inner", END)
    saver = InMemorySaver()
    outer = builder.compile(checkpointer=saver)
    outer.invoke({"messages": [HumanMessage("nested")]}, cfg("p"))
    assert [t.thread_id for t in list_threads(saver)] == ["p"]
