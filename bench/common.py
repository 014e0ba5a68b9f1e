"""What every benchmark script shares: progress lines, run metadata, the table, the closing JSON line."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: When the benchmark started (this module is imported first thing by each script).
T0 = time.monotonic()
#: The machine's load average then: a figure measured on a busy box reads differently.
LOAD_AVG_START = os.getloadavg()
STARTED_AT = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")

ROOT = Path(__file__).resolve().parent.parent

#: Figure name -> (">=" or "<=", target), or (anything, None) for a figure only reported.
Targets = Mapping[str, tuple[str, float | None]]


def log(msg: str) -> None:
    """A progress line on stderr, stamped with seconds since start."""
    print(f"[bench {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def quiet_transformers() -> None:
    """Hide transformers' per-load progress bars (they drown the progress lines)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _git_commit() -> str:
    """The checked-out commit, with ``+dirty`` when the tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    """Physical memory in GiB, or None where the OS does not say."""
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def run_metadata() -> dict[str, Any]:
    """Where and when the figures were measured: commit, machine, load before/after, versions."""
    try:
        import torch

        torch_version: str | None = torch.__version__
    except ImportError:
        torch_version = None
    return {
        "date": STARTED_AT,
        "commit": _git_commit(),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "ram_gib": _ram_gib(),
            "platform": platform.platform(),
        },
        "load_avg_start": LOAD_AVG_START,
        "load_avg_end": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch_version,
    }


def emit_json(result: dict[str, Any]) -> None:
    """Add the run metadata and total time, then print the result as the last stdout line."""
    result["meta"] = run_metadata()
    result["total_s"] = time.monotonic() - T0
    print(json.dumps(result), flush=True)


def print_table(result: Mapping[str, Any], targets: Targets) -> None:
    """Figure / value / target / pass, on stderr, for the figures the result has."""
    width = max(len(name) for name in targets) + 2
    print(f"\n{'figure':<{width}} {'value':>9}  {'target':<8} result", file=sys.stderr)
    for name, (op, target) in targets.items():
        if name not in result:
            continue
        value = result[name]
        if target is None:
            verdict, shown = "-", "report"
        else:
            ok = value >= target if op == ">=" else value <= target
            verdict, shown = ("pass" if ok else "FAIL"), f"{op} {target:g}"
        print(f"{name:<{width}} {value:9.3f}  {shown:<8} {verdict}", file=sys.stderr)
    print(file=sys.stderr, flush=True)


def finish(result: dict[str, Any], targets: Targets) -> int:
    """Print the table, then the JSON line (with the run metadata) last."""
    print_table(result, targets)
    emit_json(result)
    return 0
