"""The CLI's entry points: `python -m graphs.compliance`, `python -m graphs` and the console script."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs `python -m graphs.compliance ARGS` and prints what ran: how often the file's code was
# executed (an import and `runpy` both raise the audit event "exec" with its code object),
# and which of its functions ran as part of the `__main__` copy (a second graph module).
_TRACE_MAIN = """
import os, runpy, sys
target = os.path.join("graphs", "compliance.py")
runs, main_calls = [], set()
def hook(event, args):
    code = args[0] if args else None
    if event == "exec" and getattr(code, "co_filename", "").endswith(target):
        runs.append(code.co_name)
def profile(frame, event, arg):
    code = frame.f_code
    if event == "call" and code.co_filename.endswith(target) and code.co_name != "<module>":
        if frame.f_globals.get("__name__") == "__main__":
            main_calls.add(code.co_name)
sys.addaudithook(hook)
sys.setprofile(profile)
sys.argv = ["graphs.compliance", *sys.argv[1:]]
status = None
try:
    runpy.run_module("graphs.compliance", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code
sys.setprofile(None)
print("runs", len(runs), "status", status, "main_calls", sorted(main_calls))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_module_cli_runs_the_graph_module_once(tmp_path: Path) -> None:
    # `--show` builds the graph, so the CLI imports graphs.compliance; the `__main__` run of the
    # same file must only hand over, not build a second graph module.
    db = tmp_path / "threads.sqlite"
    result = _run("-c", _TRACE_MAIN, "--show", "nope", "--db", str(db))
    assert result.stdout.strip() == "runs 2 status 2 main_calls []", result.stderr
    assert "unknown thread 'nope'" in result.stderr


def test_module_cli_help_does_not_build_the_graph() -> None:
    result = _run("-X", "importtime", "-m", "graphs.compliance", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: python -m graphs.compliance" in result.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert "graphs.nodes" not in imported
    assert "graphs.compliance" not in imported


def test_package_main_runs_the_cli() -> None:
    result = _run("-m", "graphs", "--help")
    assert result.returncode == 0, result.stderr
    assert "--thread ID" in result.stdout


def test_console_script_target_resolves() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["compliance-council"].partition(":")
    main = getattr(importlib.import_module(module), name)
    from graphs.cli import main as cli_main

    assert main is cli_main
