"""Run the commands README.md and docs/ show, as written or with ``--help``.

Each command classified in ``tests/doc_commands.py`` runs from the repository
root (``make`` as ``make -n``, everything else with ``--help`` appended, which
imports the module or starts the program without doing the work); it fails
when the program or module does not exist or exits non-zero. Commands that
need a server, Ollama or a GPU are skipped with the reason in their id.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.doc_commands import ROOT, Check, checks, doc_files


def _unique() -> list[Check]:
    # The same command shown twice is run once; the id names its first place.
    seen: dict[tuple[str, ...] | str, Check] = {}
    for path in doc_files():
        for check in checks(path):
            seen.setdefault(check.argv or check.ident, check)
    return list(seen.values())


@pytest.mark.parametrize("check", _unique(), ids=lambda c: c.ident + (f" [skip: {c.skip}]" if c.skip else ""))
def test_documented_command_runs(check: Check) -> None:
    if check.argv is None:
        pytest.skip(check.skip)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **dict(check.env)}
    done = subprocess.run(
        check.argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(check.argv)} exited {done.returncode}:\n{done.stderr[-2000:]}"
