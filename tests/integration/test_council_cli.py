"""The CLI end to end on the real embedded model: a Chinese task, a follow-up, errors, kills."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agents.report import labels
from graphs.cli import main
from tests.integration.council_cli import ROOT, cli_args, cli_env, run_cli, run_json

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One retrieval index for every CLI run in this module (built by the first run)."""
    return tmp_path_factory.mktemp("index")


def test_chinese_task_then_follow_up_on_the_same_thread(tmp_path: Path, index_dir: Path) -> None:
    db = tmp_path / "threads.sqlite"
    first = run_json(db, index_dir, "制定人工智能合规标准，避免人工智能伤害人类")
    assert first["language"] == "zh" and first["mode"] == "workflow"
    zh = labels("zh")["sections"]
    for title in zh.values():
        assert title in first["report"]
    assert {o["persona"] for o in first["opinions"]} == {"scientist", "legal_expert"}
    assert all(o["answer"].strip() for o in first["opinions"])
    assert first["sources"], "a Chinese task must find notes in the bundled corpus"
    for source in first["sources"]:
        assert f"[{source['source_id']}]" in first["report"]

    thread = first["thread_id"]
    second = run_json(db, index_dir, "--thread", thread, "把隐私控制改得更严格")
    assert second["thread_id"] == thread and second["turns"] == 2
    users = [m["content"] for m in second["messages"] if m["role"] == "user"]
    assert users == ["制定人工智能合规标准，避免人工智能伤害人类", "把隐私控制改得更严格"]
    assert second["messages"][1]["content"] == first["report"]  # the first turn's report is kept

    listed = run_cli(db, index_dir, "--list-threads")
    assert listed.returncode == 0 and thread in listed.stdout
    shown = run_cli(db, index_dir, "--show", thread)
    assert shown.returncode == 0 and "把隐私控制改得更严格" in shown.stdout


def test_stdin_task_output_file_and_live_stream(tmp_path: Path, index_dir: Path) -> None:
    db, out = tmp_path / "t.sqlite", tmp_path / "report.md"
    done = run_cli(
        db, index_dir, "-", "--output", str(out), "--mode", "workflow", stdin="Policy for a triage chatbot\n"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.read_text(encoding="utf-8").strip() == done.stdout.strip()
    assert "## 11. References" in done.stdout and "## Applicability assumptions" in done.stdout
    # The live stream on stderr names the speakers and the sources found.
    assert "sources found:" in done.stderr
    assert "── Computer scientist" in done.stderr and "── Legal expert" in done.stderr
    assert "── Standards coordinator" in done.stderr
    # The facts and the requirements they select are shown before the experts speak.
    assert "applicability: " in done.stderr and "requirements: " in done.stderr
    # Loading the chat and embedding models draws no transformers bars, and nothing warns.
    assert "Loading weights" not in done.stderr and "Warning" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "the task is empty"),
        (["--thread", "nope", "task"], "unknown thread 'nope'"),
        (["--show", "nope"], "unknown thread 'nope'"),
        (["--temperature", "-1", "task"], "temperature"),
        (["--max-new-tokens", "0", "task"], "max_new_tokens"),
        (["--mode", "chaos", "task"], "invalid choice"),
        (["--docs", "/no/such/dir", "task"], "/no/such/dir"),
        (["--model", "gpt/4", "task"], "gpt"),
        (["--output", "/no/such/dir/report.md", "task"], "--output"),
    ],
)
def test_user_errors_are_one_line_and_a_nonzero_exit(
    tmp_path: Path,
    index_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args,
    message,
) -> None:
    # In-process (the same `main` the module runs), so eight cases don't pay eight interpreter starts;
    # the subprocess tests below check the real process's stderr and exit code.
    monkeypatch.setenv("COUNCIL_INDEX_DIR", str(index_dir))
    status = main(["--db", str(tmp_path / "t.sqlite"), *args])
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err


def test_unwritable_db_is_one_line(tmp_path: Path, index_dir: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run_cli(blocker / "threads.sqlite", index_dir, "task")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_ollama_not_running_is_one_line(tmp_path: Path, index_dir: Path) -> None:
    from tests.integration.servers import free_port

    host = f"http://127.0.0.1:{free_port()}"
    done = run_cli(tmp_path / "t.sqlite", index_dir, "--model", "ollama/llama3.1", "task", OLLAMA_HOST=host)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and host in lines[0] and "ollama serve" in lines[0]


def _start(db: Path, index_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_args(db, *args),
        cwd=ROOT,
        env=cli_env(index_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(proc: subprocess.Popen[str], marker: str, timeout: float = 300) -> list[str]:
    """Collect stderr (in a thread, as it comes) until `marker` shows; keep collecting after."""
    assert proc.stderr is not None
    stream, seen = proc.stderr, []
    threading.Thread(target=lambda: seen.extend(iter(lambda: stream.read(1), "")), daemon=True).start()
    deadline = time.monotonic() + timeout
    while marker not in "".join(seen):
        assert proc.poll() is None, f"the CLI ended early: {''.join(seen)[-2000:]}"
        assert time.monotonic() < deadline, f"no {marker!r} in: {''.join(seen)[-2000:]}"
        time.sleep(0.2)
    return seen


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_turn_killed_midway_loses_nothing_and_is_finished_by_the_next_run(
    tmp_path: Path, index_dir: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "t.sqlite"
    first = run_json(db, index_dir, "--new", "--thread", "k", "Policy for a triage chatbot")
    proc = _start(db, index_dir, "--thread", "k", "--max-new-tokens", "400", "Now make privacy stricter")
    seen = _wait_for(proc, "── ")
    proc.send_signal(sig)
    proc.wait(timeout=120)
    time.sleep(0.5)  # let the reader thread drain what the process wrote last
    err = "".join(seen)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # Ctrl-C: a clean stop, one line saying how to go on
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "--thread k" in err

    shown = run_cli(db, index_dir, "--show", "k")
    assert shown.returncode == 0 and first["report"].strip() in shown.stdout  # the earlier turn is intact
    assert "interrupted" in shown.stderr

    resumed = run_json(db, index_dir, "--thread", "k")  # no task: finish the interrupted turn
    assert resumed["turns"] == 2
    users = [m["content"] for m in resumed["messages"] if m["role"] == "user"]
    assert users == ["Policy for a triage chatbot", "Now make privacy stricter"]
    assert resumed["messages"][-1]["role"] == "assistant" and resumed["report"]


# -- review before drafting -------------------------------------------------------------

LOAN = "An EU bank uses an AI model it bought to score loan applicants"


def test_review_without_a_terminal_pauses_and_a_later_process_resumes_with_a_correction(
    tmp_path: Path, index_dir: Path
) -> None:
    db = tmp_path / "r.sqlite"
    paused = run_cli(db, index_dir, "--review", "--new", "--thread", "r", LOAN, stdin="")
    assert paused.returncode == 3, paused.stderr[-2000:]
    assert paused.stdout == "" and "Traceback" not in paused.stderr
    assert "  2. Your role(s): deployer" in paused.stderr
    assert f"-m graphs.compliance --thread r --db {db} --resume approve" in paused.stderr
    shown = run_cli(db, index_dir, "--show", "r")
    assert shown.returncode == 0 and "paused for review" in shown.stderr

    # The process is gone; the pause is in the database. Another process answers it.
    done = run_json(db, index_dir, "--thread", "r", "--resume", "2=provider")
    assert done["status"] == "done" and done["facts"]["roles"]["value"] == ["provider"]
    assert done["review"] == {"status": "corrected", "corrected": ["roles"], "note": ""}
    assert "the reviewer corrected A2 (Your role(s))" in done["report"]
    assert any(r["id"].startswith("eu-ai-act.art-9.") for r in done["requirements"])
    again = run_cli(db, index_dir, "--thread", "r", "--resume", "approve")
    assert again.returncode == 2 and "thread r is not paused for review" in again.stderr
    shown = run_cli(db, index_dir, "--show", "r")
    assert shown.stdout.count("### user") == 1 and "paused for review" not in shown.stderr


def test_review_on_a_terminal_asks_and_drafts_on_the_answer(tmp_path: Path, index_dir: Path) -> None:
    import os
    import pty

    db = tmp_path / "tty.sqlite"
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        cli_args(db, "--review", "--new", "--thread", "tty", LOAN),
        cwd=ROOT,
        env=cli_env(index_dir),
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    os.close(secondary)
    try:
        seen = _wait_for(proc, "or write a note for the experts: ")
        assert "  2. Your role(s): deployer" in "".join(seen)
        os.write(primary, b"our credit committee signs off every rejection\n")
        assert proc.stdout is not None
        out = proc.stdout.read()  # stderr goes on to `_wait_for`'s reader
        proc.wait(timeout=600)
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(seen)[-2000:]
    assert "the reviewer approved these assumptions" in out
    assert "Reviewer's note to the council: “our credit committee signs off every rejection”" in out
