"""One process at a time per thread: the lock a CLI run holds on the thread it continues.

A turn reads the thread's latest checkpoint, runs for minutes, and writes new
checkpoints on top of the one it read. Two processes continuing the same
thread at once would both build on the same checkpoint, and the later write
would hide the other turn (a lost update). So a run holds an exclusive lock on
its thread, and a second process that asks for it fails at once with
`ThreadBusyError`, whose one-line message names the holder's pid.

* SQLite: an ``flock`` on a small file per thread in ``<database>.locks/``
  next to the database file. The kernel drops it when the holder exits or
  crashes, so a killed run never leaves the thread locked.
* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) keyed on the
  thread id, held on a connection of its own for the whole run; the server
  drops it when that connection closes, however the process ends.
* ``:memory:``: nothing to lock; no other process can see that database.

Reading a thread (``--show``, ``--list-threads``) takes no lock.

Example:
    >>> async with hold_thread(args.db, "t1"):  # doctest: +SKIP
    ...     await run_turn("t1")
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphs.checkpointing import (
    CheckpointerError,
    _connect_kwargs,
    _connect_reason,
    _os_reason,
    _parse_postgres_url,
    _postgres_location,
    _resolve_target,
    is_postgres_url,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not serialised (see `sqlite_thread_lock`)
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_CLASS", "ThreadBusyError", "hold_thread", "lock_file", "sqlite_thread_lock"]

#: First key of the two-key PostgreSQL advisory lock, so that the council's thread locks
#: cannot collide with another application's advisory locks in the same database ("Coun").
LOCK_CLASS = 0x436F756E

#: ``application_name`` of the locking connection: how a refused process learns the holder's pid.
_APP_NAME = "compliance-council lock pid={pid} host={host}"
_APP_NAME_RE = re.compile(r"^compliance-council lock pid=(\d+) host=(.*)$")


class ThreadBusyError(CheckpointerError):
    """Another process is running a turn of this thread; the message is one line."""

    def __init__(self, thread_id: str, pid: int | None = None, host: str | None = None) -> None:
        self.thread_id = thread_id
        self.pid = pid
        self.host = host
        who = ""
        if pid is not None:
            elsewhere = host and host != socket.gethostname()
            who = f" (pid {pid} on {host})" if elsewhere else f" (pid {pid})"
        super().__init__(f"thread {thread_id} is busy in another process{who}; try again when it finishes")


# -- SQLite: a lock file per thread ----------------------------------------------------


def lock_file(db: Path, thread_id: str) -> Path:
    """The lock file of `thread_id` for the SQLite database `db`.

    Named by a hash of the id, so any id (slashes, spaces, any script) makes a
    short, valid file name.
    """
    digest = hashlib.sha256(thread_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return db.with_name(f"{db.name}.locks") / f"{digest}.lock"


def _holder_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _lock_error(thread_id: str, path: Path, exc: OSError) -> CheckpointerError:
    return CheckpointerError(f"cannot lock thread {thread_id}: {path}: {_os_reason(exc)}")


def _acquire(path: Path, thread_id: str) -> int:
    """Open and lock `path`; returns the locked descriptor.

    Raises:
        ThreadBusyError: Another process holds the lock.
        CheckpointerError: The lock file cannot be created or locked.
    """
    assert fcntl is not None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _lock_error(thread_id, path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(fd)
            os.close(fd)
            raise ThreadBusyError(thread_id, pid) from None
        except OSError as exc:
            os.close(fd)
            raise _lock_error(thread_id, path, exc) from None
        # A holder removes its file before it unlocks. If that happened between our open
        # and our flock, we locked a file no one else will ever open: start again.
        try:
            here = os.stat(path)
            mine = os.fstat(fd)
            if (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextmanager
def sqlite_thread_lock(db: Path, thread_id: str) -> Iterator[Path | None]:
    """Hold the lock of `thread_id` for the SQLite database `db` until the block ends.

    The lock file holds the holder's pid, for the message of a refused process;
    it is removed when the block ends. Without ``fcntl`` (Windows) nothing is
    locked and None is yielded.

    Yields:
        The lock file's path (None where locking is not available).

    Raises:
        ThreadBusyError: Another process holds the thread.
        CheckpointerError: The lock folder or file cannot be created.
    """
    if fcntl is None:
        yield None
        return
    path = lock_file(db, thread_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _lock_error(thread_id, path.parent, exc) from None
    fd = _acquire(path, thread_id)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        # Unlink while still holding the lock (see `_acquire`), then let go.
        with suppress(OSError):
            os.unlink(path)
        os.close(fd)


# -- PostgreSQL: a session advisory lock ------------------------------------------------


@asynccontextmanager
async def _postgres_thread_lock(url: str, thread_id: str) -> AsyncIterator[None]:
    from psycopg import AsyncConnection
    from psycopg import Error as PsycopgError

    params = _parse_postgres_url(url)
    where = _postgres_location(params)
    app = _APP_NAME.format(pid=os.getpid(), host=socket.gethostname())[:63]  # NAMEDATALEN - 1
    try:
        conn = await AsyncConnection.connect(url, **_connect_kwargs(params), application_name=app)
    except PsycopgError as exc:
        raise CheckpointerError(f"cannot connect to PostgreSQL at {where}: {_connect_reason(exc)}") from None
    async with conn:
        try:
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(%s::int4, hashtext(%s)) AS locked", (LOCK_CLASS, thread_id)
            )
            row = await cur.fetchone()
        except PsycopgError as exc:
            raise CheckpointerError(
                f"cannot lock thread {thread_id} in PostgreSQL at {where}: {_connect_reason(exc)}"
            ) from None
        if not row or not row["locked"]:
            raise ThreadBusyError(thread_id, *await _postgres_holder(conn, thread_id))
        # Held until the connection closes at the end of this block (or the process dies).
        yield


async def _postgres_holder(conn: AsyncConnection[Any], thread_id: str) -> tuple[int | None, str | None]:
    """The pid and host of the process holding the thread's advisory lock, if it can be seen."""
    from psycopg import Error as PsycopgError

    try:
        cur = await conn.execute(
            "SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
            "AND l.classid = %s::int4::oid AND l.objid = hashtext(%s)::oid "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (LOCK_CLASS, thread_id),
        )
        row = await cur.fetchone()
    except PsycopgError:
        return None, None
    match = _APP_NAME_RE.match(str((row or {}).get("app") or ""))
    return (int(match.group(1)), match.group(2)) if match else (None, None)


# -- the one entry point ---------------------------------------------------------------------


@asynccontextmanager
async def hold_thread(target: str | Path | None, thread_id: str) -> AsyncIterator[None]:
    """Hold `thread_id` of the thread database `target` for the length of the block.

    Args:
        target: As for `open_async_checkpointer`: a SQLite path, ``":memory:"``, a
            ``postgresql://`` URL, or None for ``$COUNCIL_DB`` or the default file.
        thread_id: The thread the block will run a turn of.

    Raises:
        ThreadBusyError: Another process is running a turn of this thread.
        CheckpointerError: The lock cannot be taken (the message is one line, password-free).
    """
    resolved = _resolve_target(target)
    if isinstance(resolved, str) and is_postgres_url(resolved):
        async with _postgres_thread_lock(resolved, thread_id):
            yield
    elif isinstance(resolved, Path):
        with sqlite_thread_lock(resolved, thread_id):
            yield
    else:  # ":memory:"
        yield
