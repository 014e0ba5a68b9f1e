"""The CLI as a Unix tool: only the report on stdout, a closed pipe ends quietly, no stray bars.

`make run > report.md` must capture the report and nothing else, `--list-threads | head -1`
must not end in a Broken pipe error, and loading a model must not draw transformers'
progress bars over the live output (or through `--quiet`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import graphs.cli as cli

REPO = Path(__file__).resolve().parents[2]
TASK = "A hospital triage chatbot in Germany"


def test_a_closed_stdout_ends_the_cli_quietly(
    cli_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    for n in range(3):
        assert cli_run("--new", "--thread", f"t{n}", TASK)[0] == 0
    status, out, _ = cli_run("--list-threads")
    assert status == 0 and len(out.splitlines()) == 3

    # `… --list-threads | head -0`: the reader is gone before the first line.
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - main() redirects and keeps it
    monkeypatch.setattr(sys, "stdout", closed)
    status = cli.main(["--db", str(tmp_path / "threads.sqlite"), "--list-threads"])  # cli_run's database
    err = capsys.readouterr().err
    assert status == cli.EXIT_CLOSED_PIPE
    assert "Broken pipe" not in err and "error" not in err
    closed.write("more output after the reader left\n")
    closed.flush()  # goes to /dev/null now: no second BrokenPipeError at exit


def test_a_broken_pipe_that_is_not_stdout_is_still_an_error(cli_run, monkeypatch) -> None:
    # EPIPE on a socket (a remote expert hanging up) is a real failure, not a reader leaving.
    async def hung_up(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "run_command", hung_up)
    status, _, err = cli_run(TASK)
    assert status == cli.EXIT_UNAVAILABLE
    assert err.strip().splitlines() == ["error: [Errno 32] Broken pipe"]


def test_loading_a_model_draws_no_progress_bars() -> None:
    from transformers.utils import logging as hf_logging

    from tools.progress import no_progress_bars

    hf_logging.enable_progress_bar()
    entered, leave = threading.Event(), threading.Event()

    def other_loader() -> None:
        with no_progress_bars():
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=other_loader)
    thread.start()
    entered.wait(5)
    with no_progress_bars():
        assert not hf_logging.is_progress_bar_enabled()
    # The other engine is still loading: its bars stay off until it is done.
    assert not hf_logging.is_progress_bar_enabled()
    leave.set()
    thread.join(5)
    assert hf_logging.is_progress_bar_enabled()  # what the embedding app had set comes back

    hf_logging.disable_progress_bar()
    with no_progress_bars():
        pass
    assert not hf_logging.is_progress_bar_enabled()  # ... also when that was "off"
    hf_logging.enable_progress_bar()


# -- make ----------------------------------------------------------------------------------

FAKE_PYTHON = """#!/bin/sh
# Stands in for python3: `-m venv DIR` makes DIR/bin with a fake pip and a fake python.
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    mkdir -p "$3/bin"
    cp "$0" "$3/bin/python"
    # The fake pip talks like pip: a line per step, nothing with -q.
    printf '#!/bin/sh\\ncase " $* " in *" -q "*) exit ${FAKE_PIP_STATUS:-0};; esac\\n\
echo "Collecting langgraph"\\necho "  Downloading langgraph.whl"\\n\
echo "Successfully installed langgraph"\\nexit ${FAKE_PIP_STATUS:-0}\\n' > "$3/bin/pip"
    chmod +x "$3/bin/pip"
    echo "venv made"
    exit 0
fi
echo "# The report for: $*"
"""


@pytest.fixture
def make_run(tmp_path: Path):
    """`make run` from the real Makefile, with a stand-in python, in a copy of the build inputs."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml", "constraints.txt", "requirements-models.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)

    def go(pip_status: int = 0) -> subprocess.CompletedProcess[str]:
        # As a user types it, at the top level: under `make test` the inherited MAKELEVEL/MAKEFLAGS
        # would make this a sub-make, which prints "Entering directory" lines of its own.
        env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
        env["FAKE_PIP_STATUS"] = str(pip_status)
        return subprocess.run(
            ["make", "run", f"PYTHON={fake}", "TASK=hello"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return go


def test_make_run_prints_only_the_report_on_stdout(make_run) -> None:
    first = make_run()  # sets up .venv first
    assert first.returncode == 0, first.stderr
    assert first.stdout == "# The report for: -m graphs.compliance hello\n"
    # Progress of the set-up is shown, on stderr: steps and pip's package lines.
    assert "setup 1/3" in first.stderr and "Collecting langgraph" in first.stderr
    assert "Downloading" not in first.stderr  # pip's noise is filtered to a line per package

    again = make_run()  # set up already: straight to the report
    assert again.returncode == 0
    assert again.stdout == first.stdout and "setup" not in again.stderr


def test_a_failed_install_fails_make_run(make_run) -> None:
    failed = make_run(pip_status=1)
    assert failed.returncode != 0
    assert failed.stdout == ""


def test_printed_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from graphs.cli_review import prog

    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\n")
    venv_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(venv_python))
    monkeypatch.chdir(tmp_path)

    # No environment active: bare `python` would be another interpreter, without the project.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert prog() == ".venv/bin/python -m graphs.compliance"
    monkeypatch.chdir("/")
    assert prog() == f"{venv_python} -m graphs.compliance"
    # Activated (`source .venv/bin/activate`): plain python is this one.
    monkeypatch.setenv("PATH", f"{venv_python.parent}:/usr/bin:/bin")
    assert prog() == "python -m graphs.compliance"
