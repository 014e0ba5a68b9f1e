"""Which decoding path an engine uses: measured when the model loads, or forced.

``COUNCIL_HF_DECODE`` picks it: ``dynamic`` (the growing cache of `decode.py`,
fastest on CPU), ``static`` (`static.py`; on CUDA transformers compiles its
decode step) or ``auto``, the default, which times both on a short greedy
run at batch 1 and 2 and keeps the dynamic path unless the static one is
clearly (10 %) faster. On CUDA that probe is also the
warm-up: the static path's first calls compile there, while the model loads,
not inside a user's first request. Where nothing is compiled (CPU, Apple)
the verdict is remembered in the model cache, keyed by model, device,
precision and library versions, so a CLI run does not pay for the probe
every time it loads the model; a verdict measured while other work held the
CPUs is used once but not remembered.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import transformers

from agents.models.hf.decode import FAST_DECODE, greedy_tokens, new_cache
from agents.models.hf.static import StaticCaches, supports_static
from tools.settings_registry import BY_NAME

log = logging.getLogger(__name__)

DecodePath = Literal["dynamic", "static"]

#: Probe size: a prompt this long, this many new tokens, at each batch size.
PROBE_PROMPT = 64
PROBE_NEW = 8
PROBE_ROWS = (1, 2)
#: The static path is chosen only when it takes less than this share of the dynamic path's time.
STATIC_MARGIN = 0.9


@dataclass
class DecodeChoice:
    """The path an engine decodes with, and what the choice cost and measured.

    Attributes:
        mode: The path used for every request.
        probe: Seconds per generated token of each path, summed over the probe's
            batch sizes (empty when the path was forced or the verdict cached).
        warmup_seconds: Time spent at load on the probe and on compiling.
        reason: One phrase for the log: forced, measured, cached, unsupported.
    """

    mode: DecodePath
    probe: dict[str, float] = field(default_factory=dict)
    warmup_seconds: float = 0.0
    reason: str = ""


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _probe_ids(model: Any, rows: int) -> torch.Tensor:
    # Ordinary vocabulary ids, away from the special tokens at the start; rows differ.
    vocab = int(model.config.vocab_size)
    low = min(100, vocab // 4)
    base = torch.arange(PROBE_PROMPT) * 7
    return torch.stack([(base + 13 * r) % (vocab - low) + low for r in range(rows)])


def _probe_run(
    model: Any, device: str, pad_id: int, static: StaticCaches, path: DecodePath, rows: int
) -> None:
    """One greedy probe generation on `path` at `rows` rows."""
    ids = _probe_ids(model, rows).to(device)
    need = ids.shape[1] + PROBE_NEW
    cache = static.get(rows, need)[0] if path == "static" else new_cache(model, need)
    greedy_tokens(model, ids, PROBE_NEW, pad_id, cache)


def measure(model: Any, device: str, pad_id: int, static: StaticCaches) -> dict[str, float]:
    """Time both paths on the same greedy runs; seconds per token of each, summed over `PROBE_ROWS`.

    Each path is warmed up first (on CUDA the static path compiles there), then
    the paths take turns, three runs each, so a burst of other work on the
    machine falls on both; the median run counts.
    """
    paths: tuple[DecodePath, ...] = ("dynamic", "static")
    total: dict[str, float] = dict.fromkeys(paths, 0.0)
    for rows in PROBE_ROWS:
        for path in paths:
            _probe_run(model, device, pad_id, static, path, rows)
        times: dict[str, list[float]] = {path: [] for path in paths}
        for _ in range(3):
            for path in paths:
                _sync(device)
                started = time.perf_counter()
                _probe_run(model, device, pad_id, static, path, rows)
                _sync(device)
                times[path].append(time.perf_counter() - started)
        for path in paths:
            total[path] += statistics.median(times[path]) / PROBE_NEW
    return total


def machine_busy() -> bool:
    """True when other work holds the CPUs (1-minute load average above the core count).

    A probe taken then still picks this process's path, but is not remembered:
    under contention both paths slow down by different amounts.
    """
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1)
    except OSError:  # not available on this platform
        return False


def warm_static(model: Any, device: str, pad_id: int, static: StaticCaches) -> None:
    """Run the static path's probe calls once: on CUDA, this compiles its decode step."""
    for rows in PROBE_ROWS:
        _probe_run(model, device, pad_id, static, "static", rows)


def _verdict_key(engine_key: tuple[str, ...], model: Any) -> str:
    return "|".join(
        [
            *engine_key,
            type(model).__name__,
            f"torch {torch.__version__}",
            f"transformers {transformers.__version__}",
            f"threads {torch.get_num_threads()}",
        ]
    )


def _read_verdicts(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # an unreadable file is measured again and rewritten
    return data if isinstance(data, dict) else {}


def _write_verdict(path: Path | None, key: str, choice: DecodeChoice) -> None:
    if path is None:
        return
    verdicts = _read_verdicts(path)
    verdicts[key] = {"mode": choice.mode, "probe": choice.probe, "measured": time.strftime("%Y-%m-%d %H:%M")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temp file of this process's own, then a rename: never a half-written file,
        # even with two processes loading models at once.
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name, delete=False) as out:
            out.write(json.dumps(verdicts, indent=1, sort_keys=True))
        Path(out.name).replace(path)
    except OSError as exc:  # a read-only cache only costs the probe next time
        log.debug("could not remember the decode verdict in %s: %s", path, exc)


def wanted_mode() -> str:
    """``$COUNCIL_HF_DECODE``: auto, dynamic or static; read on every engine load.

    Raises:
        ValueError: one line naming the variable, for any other value.
    """
    mode: str = BY_NAME["hf_decode"].from_env()
    return mode


def choose(
    model: Any,
    device: str,
    pad_id: int,
    static: StaticCaches,
    *,
    engine_key: tuple[str, ...],
    verdicts: Path | None,
    setting: str | None = None,
) -> DecodeChoice:
    """Pick the engine's decoding path (see the module docstring).

    Raises:
        ValueError: for a ``COUNCIL_HF_DECODE`` that is not auto, dynamic or static.
    """
    wanted = setting if setting is not None else wanted_mode()
    started = time.monotonic()
    if wanted == "dynamic" or (wanted == "auto" and not FAST_DECODE):
        return DecodeChoice("dynamic", reason="forced" if wanted == "dynamic" else "fast decoding off")
    if not supports_static(model):
        return DecodeChoice("dynamic", reason="the model's attention layers need the dynamic cache")
    if wanted == "static":
        choice = DecodeChoice("static", reason="forced")
        if device.startswith("cuda"):
            # Compile now, while the model loads, not inside the first request.
            warm_static(model, device, pad_id, static)
            choice.warmup_seconds = time.monotonic() - started
        return choice
    compiles = device.startswith("cuda")
    key = _verdict_key(engine_key, model)
    cached = None if compiles else _read_verdicts(verdicts).get(key)
    if isinstance(cached, dict) and cached.get("mode") in ("dynamic", "static"):
        return DecodeChoice(cached["mode"], dict(cached.get("probe") or {}), 0.0, "cached probe")
    busy_before = machine_busy()
    probe = measure(model, device, pad_id, static)
    # The static path must win clearly: a probe disturbed by other work on the
    # machine should not move the engine off the path that is usually right.
    mode: DecodePath = "static" if probe["static"] < STATIC_MARGIN * probe["dynamic"] else "dynamic"
    choice = DecodeChoice(mode, probe, time.monotonic() - started, "measured")
    if not compiles and not busy_before and not machine_busy():
        _write_verdict(verdicts, key, choice)
    return choice
