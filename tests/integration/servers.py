"""Real servers for integration tests: `langgraph dev` and a throwaway PostgreSQL.

Both bind 127.0.0.1 on a free port, run in a temporary directory, and are
stopped (by the process id this module started, never by name) when their
``with`` block ends. Neither needs the internet.

    with LanggraphDev(log_path=tmp_path / "dev.log") as server:
        client = langgraph_sdk.get_client(url=server.url)

    with PostgresServer() as pg:                 # raises PostgresUnavailable if
        open_checkpointer(pg.url)                # Debian's binaries are missing

A fixture turns `PostgresUnavailable` into ``pytest.skip(str(exc))``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The `langgraph` CLI of the interpreter running the tests (the project's venv).
LANGGRAPH_BIN = Path(sys.executable).with_name("langgraph")

#: Environment every `langgraph dev` gets: no outbound calls at start-up (the CLI's
#: analytics ping and langgraph-api's PyPI version check both phone home otherwise), no
#: model downloads, no tracing.
LANGGRAPH_DEV_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "PYTHONUNBUFFERED": "1",
}

# Requests to our own servers must never go through a proxy from the environment.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET `url` answers 200, without any proxy."""
    try:
        with _NO_PROXY_OPENER.open(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    # langgraph dev colours its log; escape codes make a failure message unreadable.
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return "\n".join(text.splitlines()[-lines:])


def _stop_group(proc: subprocess.Popen[Any], grace_s: float) -> None:
    """Stop the process group led by `proc` (which we started with its own session)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    # Children that outlived the leader still carry its group id (which the kernel does
    # not reuse while they live); take them down too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


# -- langgraph dev -------------------------------------------------------------------


def _absolute_config(config_path: Path, *, env_file: bool) -> dict[str, Any]:
    """`config_path`'s JSON with every relative path made absolute.

    `langgraph dev` resolves graph files, dependencies and the env file against
    its working directory, and keeps its state in ``./.langgraph_api``. Making
    the paths absolute lets each server run in its own empty directory: no state
    leaks between test runs or between two servers, and the repo stays clean.
    Without `env_file` the config's ``env`` is dropped: a developer's ``.env``
    (which overrides the server's environment) must not change what tests see.
    """
    base = config_path.resolve().parent
    data: dict[str, Any] = json.loads(config_path.read_text())

    def absolute(path: str) -> str:
        return path if Path(path).is_absolute() else str((base / path).resolve())

    def absolute_spec(spec: str) -> str:
        # "./file.py:attr" is a path; "package.module:attr" is an import and stays as is.
        file, sep, attr = spec.partition(":")
        return absolute(file) + sep + attr if file.endswith(".py") or file.startswith(".") else spec

    graphs = data.get("graphs", {})
    for name, spec in graphs.items():
        if isinstance(spec, str):
            graphs[name] = absolute_spec(spec)
        elif isinstance(spec, dict) and isinstance(spec.get("path"), str):
            spec["path"] = absolute_spec(spec["path"])
    data["dependencies"] = [
        absolute(d) if d.startswith((".", "/")) else d for d in data.get("dependencies", [])
    ]
    if not env_file:
        data.pop("env", None)
    elif isinstance(data.get("env"), str):
        data["env"] = absolute(data["env"])
    for section in ("auth", "http", "store", "checkpointer"):
        block = data.get(section)
        if isinstance(block, dict):
            for key in ("path", "app"):
                if isinstance(block.get(key), str):
                    block[key] = absolute_spec(block[key])
    return data


class _Server:
    """A context manager that starts a server, and stops it and removes its scratch folder after.

    A failed start cleans up what it got as far as, then re-raises.
    """

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _scratch(self) -> Path | None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        scratch = self._scratch()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


class LanggraphDev(_Server):
    """`langgraph dev` on 127.0.0.1, for the length of a ``with`` block.

    Attributes:
        url: ``http://127.0.0.1:<port>`` once started.
        port: The port it listens on.
        log_path: Its combined stdout/stderr.
        workdir: Its working directory (holds ``.langgraph_api``), removed on exit.
    """

    def __init__(
        self,
        config: Path | str = REPO_ROOT / "langgraph.json",
        *,
        env: Mapping[str, str] | None = None,
        allow_blocking: bool = False,
        startup_timeout: float = 120.0,
        log_path: Path | str | None = None,
        n_jobs_per_worker: int | None = None,
        isolated: bool = True,
        env_file: bool = False,
        graphs: Sequence[str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        """Describe the server; nothing starts until ``__enter__``.

        Args:
            config: The ``langgraph.json`` to serve.
            env: Extra environment for the server (over `LANGGRAPH_DEV_ENV`).
            allow_blocking: Pass ``--allow-blocking`` (sync I/O in the event loop).
            startup_timeout: Seconds to wait for ``GET /ok``.
            log_path: Where to write its output; default inside `workdir`.
            n_jobs_per_worker: ``--n-jobs-per-worker`` (runs served at once; default 10).
            isolated: Run from an empty directory with an absolute-path copy of the
                config (fresh state); False runs from the config's own directory.
            env_file: Keep the config's ``env`` file (e.g. ``.env``) when isolated;
                off by default so tests do not depend on a developer's settings.
            graphs: Serve only these graphs of the config (e.g. the experts alone, as
                on a host of their own); None serves them all. Needs `isolated`.
            extra_args: More ``langgraph dev`` arguments.
        """
        self.config = Path(config).resolve()
        self.env = dict(env or {})
        self.allow_blocking = allow_blocking
        self.startup_timeout = startup_timeout
        self.n_jobs_per_worker = n_jobs_per_worker
        self.isolated = isolated
        self.env_file = env_file
        self.graphs = list(graphs) if graphs is not None else None
        if self.graphs is not None and not isolated:
            raise ValueError("graphs= rewrites the config, which only an isolated server does")
        self.extra_args = list(extra_args)
        self._log_path = Path(log_path) if log_path else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.workdir: Path | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        if self._log_path is not None:
            return self._log_path
        assert self.workdir is not None, "not started"
        return self.workdir / "langgraph-dev.log"

    def log_tail(self, lines: int = 60) -> str:
        """The last `lines` lines of the server's log, without colour codes."""
        return _tail(self.log_path, lines)

    def ok(self) -> bool:
        """Whether the server answers ``GET /ok`` right now."""
        return http_ok(f"{self.url}/ok")

    def _command(self, config: Path) -> list[str]:
        cmd = [str(LANGGRAPH_BIN), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--config", str(config)]
        if self.allow_blocking:
            cmd.append("--allow-blocking")
        if self.n_jobs_per_worker is not None:
            cmd += ["--n-jobs-per-worker", str(self.n_jobs_per_worker)]
        return cmd + self.extra_args

    def _environ(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
        environ.update(LANGGRAPH_DEV_ENV)
        environ["NO_PROXY"] = environ["no_proxy"] = "127.0.0.1,localhost"
        environ.update(self.env)
        return environ

    def start(self) -> None:
        """Start the server and wait until it answers ``/ok``.

        Raises:
            ServerStartError: It exited or did not answer within `startup_timeout`
                (the message has the log tail); the process group is stopped first.
        """
        if not LANGGRAPH_BIN.exists():
            raise ServerStartError(f"{LANGGRAPH_BIN} not found: install the dev extra (langgraph-cli[inmem])")
        # A restart keeps the working directory: the server's saved threads live there.
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="council-langgraph-dev-"))
        if self.isolated:
            config = self.workdir / "langgraph.json"
            data = _absolute_config(self.config, env_file=self.env_file)
            if self.graphs is not None:
                missing = set(self.graphs) - set(data.get("graphs", {}))
                if missing:
                    raise ServerStartError(f"{self.config} has no graph named {', '.join(sorted(missing))}")
                data["graphs"] = {name: data["graphs"][name] for name in self.graphs}
            config.write_text(json.dumps(data, indent=2))
            cwd = self.workdir
        else:
            config, cwd = self.config, self.config.parent
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")  # a fresh log per start; retries below append to it
        # A port can be taken between free_port() and the server binding it; retry then.
        for attempt in range(3):
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    self._command(config),
                    cwd=cwd,
                    env=self._environ(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, so stop() gets its workers too
                )
            try:
                self._wait_ready()
                return
            except ServerStartError as exc:
                self.stop()
                if attempt < 2 and "address already in use" in str(exc).lower():
                    continue
                raise

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"langgraph dev exited with status {self.proc.returncode} before answering /ok;"
                    f" log {self.log_path}:\n{self.log_tail()}"
                )
            if self.ok():
                return
            time.sleep(0.25)
        raise ServerStartError(
            f"langgraph dev did not answer {self.url}/ok within {self.startup_timeout:.0f}s;"
            f" log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after 20 s)."""
        if self.proc is not None:
            _stop_group(self.proc, grace_s=20)

    def restart(self) -> None:
        """Stop the server and start it again in the same working directory (same saved state)."""
        self.stop()
        self.start()

    def _scratch(self) -> Path | None:
        return self.workdir


# -- PostgreSQL ----------------------------------------------------------------------


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed (or cannot run here); the message says why."""


def find_postgres_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: ``$PG_BINDIR``, Debian's newest, or ``$PATH``."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name)) or (0,)

    # Debian keeps server binaries off $PATH, one directory per major version.
    candidates += [
        p.parent for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version, reverse=True)
    ]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


class PostgresServer(_Server):
    """A throwaway PostgreSQL cluster on 127.0.0.1, trust auth, for one ``with`` block.

    Attributes:
        url: ``postgresql://postgres@127.0.0.1:<port>/<dbname>``.
        port: Its TCP port.
        root: Its temporary directory (data, socket, log), removed on exit.
    """

    def __init__(self, dbname: str = "council", *, startup_timeout: float = 60.0) -> None:
        """Describe the cluster; nothing starts until ``__enter__``.

        Args:
            dbname: The database created for the tests.
            startup_timeout: Seconds to wait for the server to accept connections.
        """
        self.dbname = dbname
        self.startup_timeout = startup_timeout
        self.port = 0
        self.root: Path | None = None
        self.bindir: Path | None = None
        self._started = False

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why a cluster cannot be started here, or None if it can."""
        if find_postgres_bindir() is None:
            return (
                "PostgreSQL server binaries not found (initdb/pg_ctl under /usr/lib/postgresql/*/bin or"
                " on $PATH); install Debian's `postgresql` package (.ci/run does)"
            )
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no `postgres` user to run initdb as"
            if shutil.which("runuser") is None:
                return "running as root and `runuser` is missing, so initdb cannot run as `postgres`"
        return None

    @property
    def url(self) -> str:
        """Connection URL of the test database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        assert self.root is not None, "not started"
        return self.root / "postgres.log"

    def _run(
        self, tool: str, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        assert self.bindir is not None
        cmd = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise ServerStartError(
                f"{tool} failed with status {proc.returncode}:\n{proc.stdout}{proc.stderr}"
                + (f"\nserver log:\n{_tail(self.log_path, 30)}" if self.root else "")
            )
        return proc

    def start(self) -> None:
        """Create the cluster, start it and create the database.

        Raises:
            PostgresUnavailable: The binaries (or the `postgres` user) are missing.
            ServerStartError: initdb, the server or createdb failed (with their output).
        """
        reason = self.unavailable_reason()
        if reason:
            raise PostgresUnavailable(reason)
        self.bindir = find_postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="council-postgres-"))
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
        data = self.root / "data"
        self._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # a throwaway cluster: durability costs seconds for nothing
            "--no-instructions",
        )
        for attempt in range(3):
            self.port = free_port()
            # Appending keeps postgres's ownership of the file; later settings win.
            with open(data / "postgresql.conf", "a") as conf:
                conf.write(
                    f"\n# council test cluster\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.root}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                )
            proc = self._run(
                "pg_ctl",
                "-D",
                str(data),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                str(int(self.startup_timeout)),
                "start",
                check=False,
            )
            if proc.returncode == 0:
                self._started = True
                break
            if attempt == 2 or "already in use" not in _tail(self.log_path, 20):
                raise ServerStartError(
                    f"pg_ctl start failed with status {proc.returncode}:\n{proc.stdout}{proc.stderr}"
                    f"\nserver log:\n{_tail(self.log_path, 30)}"
                )
        self._create_database()

    def _create_database(self) -> None:
        import psycopg

        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')

    def stop(self) -> None:
        """Stop the server immediately (no checkpoint: the data is thrown away)."""
        if self._started and self.root is not None:
            data = self.root / "data"
            proc = self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
            if proc.returncode != 0:
                # pg_ctl could not stop it: kill the postmaster we started, by its pid file.
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int((data / "postmaster.pid").read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)
            self._started = False

    def _scratch(self) -> Path | None:
        return self.root
