"""Where conversations are kept: opening a checkpointer (listing threads is `graphs.threads`).

A conversation is a LangGraph *thread*; its turns live in a checkpointer. This
module opens one from a single user-facing setting — a file path (SQLite, the
default, under the user's data directory or ``$COUNCIL_DB``) or a
``postgresql://`` URL (the scale path: many processes or servers sharing one
database) — and turns every failure a user can cause (an unwritable path, a
file that is not a database, a server that is down, a malformed URL) into a
`CheckpointerError` whose message is one clear line, so that a CLI can print
it and exit without a traceback.

Both a sync (`open_checkpointer`) and an async (`open_async_checkpointer`)
form exist because a graph run with ``ainvoke``/``astream`` needs an async
saver, and the sync savers refuse to be used from a running event loop.

Example:
    >>> with open_checkpointer("/tmp/threads.sqlite") as saver:  # doctest: +SKIP
    ...     graph = builder.compile(checkpointer=saver)
    ...     graph.invoke(inputs, {"configurable": {"thread_id": "t1"}})
"""

from __future__ import annotations

import atexit
import errno
import os
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from agents.models.errors import redact_credentials
from tools.settings_registry import BY_NAME

__all__ = [
    "DEFAULT_DB_ENV",
    "CheckpointerError",
    "default_db_path",
    "describe_target",
    "is_postgres_url",
    "open_async_checkpointer",
    "open_checkpointer",
]

#: Environment variable naming the thread database (a file path or a PostgreSQL URL).
DEFAULT_DB_ENV = BY_NAME["db"].env

#: File name of the default SQLite database inside the user's data directory.
DEFAULT_DB_NAME = "threads.sqlite"

#: Seconds to wait for a PostgreSQL server before giving up. libpq's own default is to
#: wait forever, which on a firewalled host looks like a hung CLI.
POSTGRES_CONNECT_TIMEOUT_S = 10

_POSTGRES_SCHEMES = ("postgres://", "postgresql://")


class CheckpointerError(ValueError):
    """The thread database cannot be opened; the message is one line meant for the user."""


# -- targets -------------------------------------------------------------------------


def default_db_path() -> Path:
    """The SQLite thread database used when no target is given.

    ``$COUNCIL_DB`` may also hold a PostgreSQL URL, which a `Path` cannot carry;
    to open "whatever the user configured", pass None to `open_checkpointer` (or
    `open_async_checkpointer`) instead of this path, and use `describe_target(None)`
    to show it.

    Returns:
        ``$COUNCIL_DB`` when set, else ``threads.sqlite`` in the user's data
        directory (``~/.local/share/compliance-council`` on Linux).
    """
    env = BY_NAME["db"].from_env()
    if env:
        return Path(env).expanduser()
    # Imported here: platformdirs is only needed when no path was given.
    from platformdirs import user_data_dir

    # appauthor=False: no "<author>/" level on Windows, the same layout everywhere.
    return Path(user_data_dir("compliance-council", appauthor=False)) / DEFAULT_DB_NAME


def is_postgres_url(target: str | Path | None) -> bool:
    """Whether `target` names a PostgreSQL database (``postgres://`` or ``postgresql://``).

    Args:
        target: A file path, a URL, or None.

    Returns:
        True for a PostgreSQL URL; False for paths (a `Path` is never a URL) and None.
    """
    return isinstance(target, str) and target.strip().lower().startswith(_POSTGRES_SCHEMES)


def _resolve_target(target: str | Path | None) -> str | Path:
    """The concrete target: a PostgreSQL URL (str), ``":memory:"``, or a file `Path`.

    Raises:
        CheckpointerError: For a URL of a scheme we cannot store threads in.
    """
    if target is None or (isinstance(target, str) and not target.strip()):
        # $COUNCIL_DB, when set, is read like an explicit target: it may hold a URL.
        target = BY_NAME["db"].from_env() or default_db_path()
    if isinstance(target, Path):
        if str(target).lower().startswith(("postgres:", "postgresql:")):
            # Path() collapses "//", so the URL cannot be recovered: a caller bug (e.g.
            # `Path(os.environ["COUNCIL_DB"])`), reported rather than made into a directory.
            raise CheckpointerError(
                f"thread database {redact_credentials(str(target))} is a PostgreSQL URL passed as a file"
                " path; pass the URL as a string"
            )
        return target.expanduser()
    target = target.strip()
    if is_postgres_url(target):
        return target
    if target == ":memory:":
        return target
    if "://" in target:
        scheme = target.split("://", 1)[0]
        raise CheckpointerError(
            f"unsupported thread database {redact_credentials(target)}: "
            f"'{scheme}://' is not supported; give a file path or a postgresql:// URL"
        )
    return Path(target).expanduser()


def describe_target(target: str | Path | None) -> str:
    """A one-line, password-free name of the thread database, for messages and logs.

    Args:
        target: What `open_checkpointer` would be given.

    Returns:
        ``PostgreSQL at host:port/db`` for a URL, else the file path.
    """
    try:
        resolved = _resolve_target(target)
    except CheckpointerError:
        return redact_credentials(str(target))
    if isinstance(resolved, str) and is_postgres_url(resolved):
        try:
            return f"PostgreSQL at {_postgres_location(_parse_postgres_url(resolved))}"
        except CheckpointerError:
            return redact_credentials(resolved)
    return str(resolved)


# -- SQLite --------------------------------------------------------------------------


def _os_reason(exc: OSError) -> str:
    """`exc` as a short lower-case reason ("permission denied"), the way a user reads it."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()


def _sqlite_open_error(path: Path, reason: str) -> CheckpointerError:
    return CheckpointerError(f"cannot open thread database {path}: {reason}")


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database's directory and file, so failures have an OS reason.

    sqlite3 reports every open failure as "unable to open database file"; by
    creating the parent directory and the (possibly empty: a valid database)
    file ourselves we learn the real cause — permission, not-a-directory,
    read-only file system — and can tell the user.

    Raises:
        CheckpointerError: The path cannot hold a database.
    """
    if path.is_dir():
        raise _sqlite_open_error(path, "is a directory, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        # mkdir(exist_ok=True) only raises this when a component is a regular file.
        raise _sqlite_open_error(path, f"{exc.filename or path.parent} is not a directory") from None
    except OSError as exc:
        where = exc.filename or path.parent
        raise _sqlite_open_error(path, f"cannot create directory {where}: {_os_reason(exc)}") from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _sqlite_open_error(path, _os_reason(exc)) from None
    os.close(fd)


def _sqlite_error(path: Path | str, exc: sqlite3.Error) -> CheckpointerError:
    """Map a sqlite3 error raised while opening or setting up to a one-line error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "not a database" in text or "malformed" in text:
        return _sqlite_open_error(Path(path), f"not a SQLite database or corrupt ({text})")
    if "readonly" in text or "read-only" in text:
        return _sqlite_open_error(Path(path), "read-only")
    return _sqlite_open_error(Path(path), text)


@contextmanager
def _open_sqlite(path: Path | str) -> Iterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    if isinstance(path, Path):
        _prepare_sqlite_file(path)
    try:
        # check_same_thread=False: LangGraph runs nodes, and so checkpoint writes, in worker
        # threads; SqliteSaver serialises access with its own lock.
        conn = sqlite3.connect(str(path), check_same_thread=False)
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc) from None
    try:
        saver = SqliteSaver(conn)
        try:
            # Set up now rather than lazily on first use, so that a corrupt or read-only
            # file fails here, as a CheckpointerError, and not halfway through a turn.
            saver.setup()
        except sqlite3.Error as exc:
            raise _sqlite_error(path, exc) from None
        yield saver
    finally:
        conn.close()


@asynccontextmanager
async def _aopen_sqlite(path: Path | str) -> AsyncIterator[BaseCheckpointSaver]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    if isinstance(path, Path):
        _prepare_sqlite_file(path)
    try:
        conn = await aiosqlite.connect(str(path))
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc) from None
    try:
        saver = AsyncSqliteSaver(conn)
        try:
            await saver.setup()
        except sqlite3.Error as exc:
            raise _sqlite_error(path, exc) from None
        yield saver
    finally:
        await conn.close()


# -- PostgreSQL ----------------------------------------------------------------------


def _parse_postgres_url(url: str) -> dict[str, str]:
    """Parse and check a PostgreSQL URL without connecting.

    Raises:
        CheckpointerError: The URL cannot be parsed or has an invalid port.
    """
    from psycopg import Error as PsycopgError
    from psycopg.conninfo import conninfo_to_dict

    shown = redact_credentials(url)
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except PsycopgError as exc:
        # libpq may quote the whole URL in its message: mask the password there too.
        reason = redact_credentials(_first_line(exc))
        raise CheckpointerError(f"invalid PostgreSQL URL {shown}: {reason}") from None
    # libpq only checks ports when connecting; check them here so a typo is reported as a
    # bad URL, not as a server that cannot be reached.
    for port in params.get("port", "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise CheckpointerError(f"invalid PostgreSQL URL {shown}: bad port {port!r}")
    return params


def _postgres_location(params: dict[str, str]) -> str:
    """``host:port/dbname`` from parsed URL parameters, with libpq's defaults filled in."""
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or "5432"
    dbname = params.get("dbname") or params.get("user") or "postgres"
    return f"{host}:{port}/{dbname}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _connect_reason(exc: BaseException) -> str:
    """The useful part of a psycopg connection error.

    libpq says 'connection failed: connection to server at "h", port 5 failed:
    Connection refused / Is the server running…'; the host and port are
    already in our message, so keep what follows the last "failed:".
    """
    text = _first_line(exc)
    if "failed:" in text:
        text = text.rsplit("failed:", 1)[1]
    text = re.sub(r"^\s*(connection is bad:|FATAL:)\s*", "", text.strip())
    text = redact_credentials(re.sub(r"\s+", " ", text).strip())
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _connect_kwargs(params: dict[str, str]) -> dict[str, Any]:
    from psycopg.rows import dict_row

    # The same settings PostgresSaver.from_conn_string uses (autocommit, no prepared
    # statements, dict rows), which the saver's queries rely on.
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    if "connect_timeout" not in params:
        kwargs["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    return kwargs


@contextmanager
def _open_postgres(url: str) -> Iterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import Connection
    from psycopg import Error as PsycopgError

    params = _parse_postgres_url(url)
    where = _postgres_location(params)
    try:
        conn = Connection.connect(url, **_connect_kwargs(params))
    except PsycopgError as exc:
        raise CheckpointerError(f"cannot connect to PostgreSQL at {where}: {_connect_reason(exc)}") from None
    with conn:
        saver = PostgresSaver(conn)
        try:
            saver.setup()  # creates/migrates the tables; PostgresSaver requires this call
        except PsycopgError as exc:
            raise CheckpointerError(
                f"cannot set up thread tables in PostgreSQL at {where}: {_connect_reason(exc)}"
            ) from None
        yield saver


@asynccontextmanager
async def _aopen_postgres(url: str) -> AsyncIterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg import AsyncConnection
    from psycopg import Error as PsycopgError

    params = _parse_postgres_url(url)
    where = _postgres_location(params)
    try:
        conn = await AsyncConnection.connect(url, **_connect_kwargs(params))
    except PsycopgError as exc:
        raise CheckpointerError(f"cannot connect to PostgreSQL at {where}: {_connect_reason(exc)}") from None
    async with conn:
        saver = AsyncPostgresSaver(conn)
        try:
            await saver.setup()
        except PsycopgError as exc:
            raise CheckpointerError(
                f"cannot set up thread tables in PostgreSQL at {where}: {_connect_reason(exc)}"
            ) from None
        yield saver


# -- public openers ------------------------------------------------------------------


@contextmanager
def open_checkpointer(target: str | Path | None = None) -> Iterator[BaseCheckpointSaver]:
    """Open the thread database for sync use, closing it on exit.

    Args:
        target: A SQLite file path (its directory is created), ``":memory:"``,
            or a ``postgresql://`` URL. None or empty: ``$COUNCIL_DB``, else
            `default_db_path()`.

    Yields:
        A ready `SqliteSaver` (WAL mode) or `PostgresSaver` (tables set up).

    Raises:
        CheckpointerError: The database cannot be opened; the message is one line
            naming the database (never its password) and the reason. Errors
            raised inside the ``with`` block pass through unchanged.
    """
    resolved = _resolve_target(target)
    if isinstance(resolved, str) and is_postgres_url(resolved):
        with _open_postgres(resolved) as saver:
            yield saver
    else:
        with _open_sqlite(resolved) as saver:
            yield saver


@asynccontextmanager
async def open_async_checkpointer(target: str | Path | None = None) -> AsyncIterator[BaseCheckpointSaver]:
    """Open the thread database for async use (``ainvoke``/``astream``), closing it on exit.

    Args:
        target: As for `open_checkpointer`.

    Yields:
        A ready `AsyncSqliteSaver` or `AsyncPostgresSaver`.

    Raises:
        CheckpointerError: As for `open_checkpointer`.
    """
    resolved = _resolve_target(target)
    if isinstance(resolved, str) and is_postgres_url(resolved):
        async with _aopen_postgres(resolved) as saver:
            yield saver
    else:
        async with _aopen_sqlite(resolved) as saver:
            yield saver


_KEPT_OPEN = ExitStack()
_KEPT: dict[str, BaseCheckpointSaver] = {}
_KEPT_LOCK = threading.Lock()
atexit.register(_KEPT_OPEN.close)


def checkpointer_for(target: str | Path) -> BaseCheckpointSaver:
    """A sync saver for `target` (SQLite path or ``postgresql://`` URL), open until the process exits.

    For callers that hand `build_graph` a path or URL rather than a saver they
    manage themselves. One saver per target per process. It serves `invoke`
    and `stream`; for `ainvoke` pass a saver from `open_async_checkpointer`.

    Raises:
        CheckpointerError: As for `open_checkpointer`.
    """
    key = str(_resolve_target(target))
    with _KEPT_LOCK:
        if key not in _KEPT:
            _KEPT[key] = _KEPT_OPEN.enter_context(open_checkpointer(target))
        return _KEPT[key]
