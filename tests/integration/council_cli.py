"""Run the real CLI (`python -m graphs.compliance`) as a subprocess, for the integration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Tokens per reply in CLI runs: enough to see real text, short enough for CPU.
CLI_MAX_NEW_TOKENS = "24"


def cli_env(index_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "COUNCIL_INDEX_DIR": str(index_dir),
        # Three passages, not six: prompt prefill is most of a turn on a CPU, and three show the flow.
        "COUNCIL_RETRIEVAL_K": "3",
    }
    env.pop("TAVILY_API_KEY", None)  # web search stays off: nothing leaves 127.0.0.1
    env.update(extra)
    return env


def cli_args(db: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "graphs.compliance",
        "--db",
        str(db),
        "--max-new-tokens",
        CLI_MAX_NEW_TOKENS,
        *args,
    ]


def run_cli(
    db: Path, index_dir: Path, *args: str, stdin: str | None = None, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_args(db, *args),
        cwd=ROOT,
        env=cli_env(index_dir, **env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_json(db: Path, index_dir: Path, *args: str, **kw: Any) -> dict[str, Any]:
    done = run_cli(db, index_dir, "--json", *args, **kw)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)
