"""What every benchmark script shares: progress lines, the figures table, the closing JSON line."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

#: When the benchmark started (this module is imported first thing by each script).
T0 = time.monotonic()

#: Figure name -> (">=" or "<=", target), or (anything, None) for a figure only reported.
Targets = Mapping[str, tuple[str, float | None]]


def log(msg: str) -> None:
    """A progress line on stderr, stamped with seconds since start."""
    print(f"[bench {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def quiet_transformers() -> None:
    """Hide transformers' per-load progress bars (they drown the progress lines)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


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
    """Add the closing load average and total time, print the table, then the JSON line last."""
    result["load_avg_end"] = os.getloadavg()
    result["total_s"] = time.monotonic() - T0
    print_table(result, targets)
    print(json.dumps(result), flush=True)
    return 0
