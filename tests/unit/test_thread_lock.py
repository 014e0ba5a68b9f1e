"""One process per thread (graphs/thread_lock.py): SQLite lock files, PostgreSQL advisory locks.

The SQLite path runs for real, in this process and against a second Python
process; the PostgreSQL path runs against a fake connection that records its
SQL (tests/integration holds a real server).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from graphs.checkpointing import CheckpointerError
from graphs.thread_lock import LOCK_CLASS, ThreadBusyError, hold_thread, lock_file, sqlite_thread_lock

ROOT = Path(__file__).resolve().parents[2]


def test_two_lock_attempts_on_one_thread(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    with sqlite_thread_lock(db, "t1") as path:
        assert path == lock_file(db, "t1") and path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(ThreadBusyError) as info, sqlite_thread_lock(db, "t1"):
            pass
        assert str(info.value) == (
            f"thread t1 is busy in another process (pid {os.getpid()}); try again when it finishes"
        )
        assert info.value.pid == os.getpid()
        # Another thread of the same database is free.
        with sqlite_thread_lock(db, "t2"):
            pass
    # Released, and its file removed: the next run takes it at once.
    assert not lock_file(db, "t1").exists()
    with sqlite_thread_lock(db, "t1"):
        pass


def test_any_thread_id_makes_a_valid_lock_file(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    for thread_id in ("../../etc/passwd", "a b/c", "合同审查", "x" * 5000, ""):
        path = lock_file(db, thread_id)
        assert path.parent == tmp_path / "threads.sqlite.locks" and len(path.name) < 64
        with sqlite_thread_lock(db, thread_id):
            assert path.exists()


def test_a_thread_held_by_another_process_is_busy_until_it_dies(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from graphs.thread_lock import sqlite_thread_lock
        with sqlite_thread_lock(Path({str(db)!r}), "shared"):
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder], cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(ThreadBusyError) as info, sqlite_thread_lock(db, "shared"):
            pass
        assert info.value.pid == child.pid
        assert f"(pid {child.pid})" in str(info.value)
    finally:
        # A crash, not a clean exit: the kernel drops the flock with the process.
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    with sqlite_thread_lock(db, "shared") as path:
        assert path is not None and path.read_text() == f"{os.getpid()}\n"


def test_a_lock_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "threads.sqlite.locks"
    blocker.write_text("a file where the lock folder goes")
    with pytest.raises(CheckpointerError) as info, sqlite_thread_lock(tmp_path / "threads.sqlite", "t"):
        pass
    assert str(info.value).startswith(f"cannot lock thread t: {blocker}: ")
    assert "\n" not in str(info.value)


async def test_hold_thread_on_sqlite_and_memory(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    async with hold_thread(str(db), "t"):
        with pytest.raises(ThreadBusyError):
            async with hold_thread(db, "t"):
                pass
    # Nothing another process could share: two holders at once are fine.
    async with hold_thread(":memory:", "t"), hold_thread(":memory:", "t"):
        pass


async def test_hold_thread_follows_council_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "env.sqlite"
    monkeypatch.setenv("COUNCIL_DB", str(db))
    async with hold_thread(None, "t"):
        assert lock_file(db, "t").exists()


# -- PostgreSQL, on a fake connection ---------------------------------------------------------------


class FakeCursor:
    def __init__(self, row: dict[str, Any] | None) -> None:
        self.row = row

    async def fetchone(self) -> dict[str, Any] | None:
        return self.row


class FakeConnection:
    """Answers the lock query with `locked` and the holder query with `holder_app`."""

    def __init__(self, locked: bool, holder_app: str | None) -> None:
        self.locked = locked
        self.holder_app = holder_app
        self.queries: list[tuple[str, Any]] = []
        self.closed = False

    async def execute(self, query: str, params: Any = None) -> FakeCursor:
        self.queries.append((query, params))
        if "pg_try_advisory_lock" in query:
            return FakeCursor({"locked": self.locked})
        return FakeCursor(None if self.holder_app is None else {"app": self.holder_app})

    async def __aenter__(self) -> FakeConnection:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.closed = True  # closing the session is what releases the advisory lock


@pytest.fixture
def fake_pg(monkeypatch: pytest.MonkeyPatch):
    import psycopg

    made: dict[str, Any] = {}

    def install(locked: bool, holder_app: str | None = None) -> dict[str, Any]:
        async def connect(conninfo: str, **kwargs: Any) -> FakeConnection:
            made["conninfo"], made["kwargs"] = conninfo, kwargs
            made["conn"] = FakeConnection(locked, holder_app)
            return made["conn"]

        monkeypatch.setattr(psycopg.AsyncConnection, "connect", connect)
        return made

    return install


URL = "postgresql://council:pw@db.example:5432/council"


async def test_postgres_lock_is_held_on_its_own_connection(fake_pg) -> None:
    made = fake_pg(locked=True)
    async with hold_thread(URL, "t1"):
        conn = made["conn"]
        assert not conn.closed
    assert conn.closed
    query, params = conn.queries[0]
    assert "pg_try_advisory_lock(%s::int4, hashtext(%s))" in query and params == (LOCK_CLASS, "t1")
    assert made["kwargs"]["application_name"].startswith(f"compliance-council lock pid={os.getpid()} ")
    assert made["kwargs"]["autocommit"] is True


async def test_postgres_busy_thread_names_the_holder(fake_pg) -> None:
    import socket

    fake_pg(locked=False, holder_app=f"compliance-council lock pid=4242 host={socket.gethostname()}")
    with pytest.raises(ThreadBusyError) as info:
        async with hold_thread(URL, "t1"):
            pytest.fail("must not run")
    assert str(info.value) == "thread t1 is busy in another process (pid 4242); try again when it finishes"

    fake_pg(locked=False, holder_app="compliance-council lock pid=7 host=build-box-2")
    with pytest.raises(ThreadBusyError, match=r"\(pid 7 on build-box-2\)"):
        async with hold_thread(URL, "t1"):
            pass

    fake_pg(locked=False, holder_app=None)  # the holder cannot be seen (no rights on pg_stat_activity)
    with pytest.raises(ThreadBusyError) as info:
        async with hold_thread(URL, "t1"):
            pass
    assert str(info.value) == "thread t1 is busy in another process; try again when it finishes"


async def test_postgres_lock_connection_failure_is_one_line_without_the_password(monkeypatch) -> None:
    import psycopg

    async def refuse(conninfo: str, **kwargs: Any) -> Any:
        raise psycopg.OperationalError(f"connection to {conninfo} failed: Connection refused")

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", refuse)
    with pytest.raises(CheckpointerError) as info:
        async with hold_thread(URL, "t1"):
            pass
    assert str(info.value) == "cannot connect to PostgreSQL at db.example:5432/council: connection refused"
