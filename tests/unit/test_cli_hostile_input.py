"""The CLI under hostile input: bytes that are not UTF-8, passwords in URLs, a thread already running.

Each case must end in one `error:` line (or a one-line warning) and an exit
status, never a traceback, and leave the thread database as it was.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

import httpx
import pytest

import graphs.cli as cli
from graphs.thread_lock import lock_file, sqlite_thread_lock
from tests.unit.council_fakes import Pipe

TASK = "A hospital triage chatbot in Germany"
SECRET = "s3cr3t-pw"


class BytesPipe:
    """Stdin as the process gets it: a text stream over raw bytes (`sys.stdin.buffer`)."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)

    def read(self) -> str:  # what the old code read: text, decoded by the locale
        raise AssertionError("the task must be read from stdin's bytes")

    def isatty(self) -> bool:
        return False


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


# -- 1. bytes that are not UTF-8 --------------------------------------------------------------


def test_invalid_utf8_on_stdin_is_replaced_with_one_warning(cli_run) -> None:
    status, out, err = cli_run(
        "--thread", "bytes", "--new", "-", stdin=BytesPipe(b"\xff\xfe " + TASK.encode())
    )
    assert status == 0, err
    assert _lines(err) == [
        "warning: the task on stdin is not valid UTF-8: undecodable bytes replaced by U+FFFD"
    ]
    assert "## 3. Technical controls" in out

    # The turn was saved, with the repaired text.
    status, out, err = cli_run("--show", "bytes")
    assert status == 0 and f"\ufffd\ufffd {TASK}" in out


def test_utf8_stdin_with_a_bom_reads_cleanly(cli_run) -> None:
    status, out, err = cli_run(
        "--thread", "bom", "--new", "-", stdin=BytesPipe("\ufeff人工智能 triage".encode())
    )
    assert status == 0 and err == ""
    status, out, _ = cli_run("--show", "bom")
    assert "人工智能 triage" in out and "\ufeff" not in out


def test_surrogates_from_a_text_stdin_are_repaired(cli_run) -> None:
    # A C locale hands stdin over with errors="surrogateescape".
    status, _out, err = cli_run("--thread", "c-locale", "--new", "-", stdin=Pipe("\udcff " + TASK))
    assert status == 0, err
    assert _lines(err) == [
        "warning: the task on stdin is not valid UTF-8: undecodable bytes replaced by U+FFFD"
    ]


def test_invalid_utf8_task_in_argv_is_replaced_with_one_warning(cli_run) -> None:
    # Python gives argv bytes that are not UTF-8 as lone surrogates.
    status, out, err = cli_run("--thread", "argv", "--new", "\udcff\udcfe " + TASK)
    assert status == 0, err
    assert _lines(err) == ["warning: the task is not valid UTF-8: undecodable bytes replaced by U+FFFD"]
    status, out, _ = cli_run("--show", "argv")
    assert f"\ufffd\ufffd {TASK}" in out


@pytest.mark.parametrize(
    ("flag", "value", "shown"),
    [
        ("--thread", "t\udcff", "--thread: 't\\xff' is not valid UTF-8"),
        ("--docs", "/tmp/d\udcff", "--docs: '/tmp/d\\xff' is not valid UTF-8"),
        ("--model", "hf/\udcffx", "--model: 'hf/\\xffx' is not valid UTF-8"),
        ("--experts-url", "http://h\udcff:1", "--experts-url: 'http://h\\xff:1' is not valid UTF-8"),
    ],
)
def test_invalid_utf8_in_a_name_or_path_is_one_error_line(cli_run, flag, value, shown) -> None:
    status, out, err = cli_run(flag, value, "--new", TASK)
    assert status == cli.EXIT_USAGE and out == ""
    assert _lines(err) == [f"error: {shown}"]


def test_invalid_utf8_in_a_resume_answer_is_repaired() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["--thread", "t", "--resume", "note: \udcff"])
    assert cli.check_arguments(parser, args) == [
        "the --resume answer is not valid UTF-8: undecodable bytes replaced by U+FFFD"
    ]
    assert args.resume == "note: \ufffd"


# -- 6. passwords on the command line ------------------------------------------------------------


def test_a_password_in_db_warns_and_never_shows_in_the_error(cli_run, monkeypatch) -> None:
    import psycopg

    url = f"postgresql://council:{SECRET}@db.example:5432/council"

    async def refuse(conninfo: str, **kwargs: Any) -> Any:
        # The worst case: the driver quotes the whole URL back.
        raise psycopg.OperationalError(f'connection to "{conninfo}" failed: Connection refused')

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", refuse)
    status, out, err = cli_run("--list-threads", db_arg=url)
    assert status == cli.EXIT_USAGE and out == ""
    assert SECRET not in err
    assert _lines(err) == [
        "warning: the --db URL holds a password, which other users of this machine can see in the "
        "process list; leave it out and set PGPASSWORD (which libpq reads), or put the URL in $COUNCIL_DB",
        "error: cannot connect to PostgreSQL at db.example:5432/council: connection refused",
    ]


def test_a_bad_postgres_url_error_masks_the_password(cli_run) -> None:
    status, _out, err = cli_run("--list-threads", db_arg=f"postgresql://council:{SECRET}@db.example:99999/x")
    assert status == cli.EXIT_USAGE and SECRET not in err
    assert _lines(err)[-1] == (
        "error: invalid PostgreSQL URL postgresql://council:***@db.example:99999/x: bad port '99999'"
    )


def test_no_password_no_warning(cli_run, monkeypatch) -> None:
    monkeypatch.setattr(cli, "open_async_checkpointer", _failing_opener)
    _status, _, err = cli_run("--list-threads", db_arg="postgresql://council@db.example/council")
    assert _lines(err) == ["error: no database here"]


def _failing_opener(target: Any) -> Any:
    from graphs.checkpointing import CheckpointerError

    raise CheckpointerError("no database here")


def test_a_password_in_experts_url_is_masked_when_the_server_is_down(cli_run, monkeypatch) -> None:
    async def down(self: Any, url: str, **kwargs: Any) -> Any:
        raise httpx.ConnectError(f"[Errno 111] Connection refused: {url}")

    monkeypatch.setattr(httpx.AsyncClient, "get", down)
    url = f"http://experts:{SECRET}@experts.example:2024"
    status, out, err = cli_run("--thread", "remote", "--new", "--experts-url", url, TASK)
    assert status == cli.EXIT_UNAVAILABLE and out == ""
    assert SECRET not in err
    assert _lines(err) == [
        "warning: the --experts-url holds a password, which other users of this machine can see in the "
        "process list; put the URL in $COUNCIL_EXPERTS_URL instead",
        "error: cannot reach the experts server at http://experts:***@experts.example:2024: "
        "is `langgraph dev` (or a LangGraph Server) running?",
    ]


def test_every_error_line_goes_through_the_redaction(capsys, monkeypatch) -> None:
    async def boom(args: Any) -> int:
        raise OSError(f"cannot write to ftp://me:{SECRET}@files.example/out.md")

    monkeypatch.setattr(cli, "_main", boom)
    assert cli.main([TASK]) == cli.EXIT_UNAVAILABLE
    assert capsys.readouterr().err == "error: cannot write to ftp://me:***@files.example/out.md\n"


def test_paused_resume_commands_do_not_repeat_the_password() -> None:
    assert cli._db_shown(f"postgresql://u:{SECRET}@h/db") == "postgresql://u:***@h/db"
    assert cli._db_shown("/tmp/threads.sqlite") == "/tmp/threads.sqlite"
    assert cli._db_shown(None) is None


# -- 7. one process per thread ---------------------------------------------------------------------


def test_a_thread_running_in_another_process_is_refused_and_left_alone(cli_run, tmp_path) -> None:
    db = tmp_path / "threads.sqlite"
    status, out, err = cli_run("--thread", "busy", "--new", TASK)
    assert status == 0, err
    status, before, _ = cli_run("--show", "busy")

    with sqlite_thread_lock(db, "busy"):  # another process's turn, as far as the lock can tell
        status, out, err = cli_run("--thread", "busy", "and make privacy stricter")
        assert status == cli.EXIT_USAGE and out == ""
        assert _lines(err) == [
            f"error: thread busy is busy in another process (pid {os.getpid()}); try again when it finishes"
        ]
        # Reading does not lock: --show and --list-threads still work, and nothing changed.
        status, shown, _ = cli_run("--show", "busy")
        assert status == 0 and shown == before
        status, listed, _ = cli_run("--list-threads")
        assert status == 0 and "busy\t" in listed

    # Once it finishes, the follow-up runs, and its lock file is gone afterwards.
    status, out, err = cli_run("--thread", "busy", "and make privacy stricter")
    assert status == 0, err
    status, after, _ = cli_run("--show", "busy")
    assert after.count("### user") == 2 and "and make privacy stricter" in after
    assert not lock_file(db, "busy").exists()


def test_the_lock_is_released_when_the_run_fails(cli_run, tmp_path) -> None:
    status, _, err = cli_run("--thread", "nope", TASK)  # unknown thread: a usage error inside the lock
    assert status == cli.EXIT_USAGE and "unknown thread 'nope'" in err
    with sqlite_thread_lock(tmp_path / "threads.sqlite", "nope"):
        pass  # would raise ThreadBusyError if the failed cli_run still held it


def test_stdin_bytes_are_not_needed_for_a_text_stream() -> None:
    # io.StringIO (tests, embedding) has no .buffer: the text is read as it is.
    args = cli.build_parser().parse_args(["-"])
    old = sys.stdin
    try:
        sys.stdin = Pipe("  plain task \n")
        assert cli.read_task(args) == "plain task"
    finally:
        sys.stdin = old
