"""A loaded transformers model shared by every caller, with request batching.

One `Engine` exists per (model folder, device, dtype, quantization) in a process: every
persona that names the same model shares its weights (the seed article loaded
an 8B model once per agent). A single worker thread owns the model; callers
on any thread or event loop submit requests to it. Requests that arrive
together and decode with the same settings are left-padded into one batch and
run through one `generate` call (on a CPU, for the models `lean.py` covers, the
engine's own loop in `loop.py`, which gives the same tokens faster), each row
streaming its own tokens and stopping on its own stop strings and token limit.
A prefix that every row of a batch shares is read once; `decode.py` has that
and the CPU speed-ups, `static.py` the static-cache path that transformers compiles on a GPU,
`decode_mode.py` the measured choice between the two (``COUNCIL_HF_DECODE``),
and `rows.py` the request types and each row's streaming and stopping.

The registry keeps at most ``$COUNCIL_MAX_ENGINES`` engines: the
key is partly the caller's choice (model spec, dtype), so an unbounded registry
would let a client load models until memory ran out. Loading one more evicts
the least recently used engine: it takes no new requests, finishes the ones
already queued or running, then its worker thread ends and its weights are
freed. A caller still holding the evicted engine (a chat model caches its
engine) is not broken: what it submits goes to the registry's engine for the
same model, loaded again if need be.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from agents.models.hf import decode_mode, loop
from agents.models.hf.decode import (
    FAST_DECODE,
    batch_layout,
    new_cache,
    prefill_shared,
    use_small_batch_matmul,
)
from agents.models.hf.embedded import model_cache_dir
from agents.models.hf.lean import LeanStep
from agents.models.hf.quantize import quantize_model
from agents.models.hf.rows import BatchStreamer, Event, Request, Result, Row, RowsDone, Sampling
from agents.models.hf.static import StaticCaches, prefill_shared_static
from tools.lru import LRUCache, release_memory
from tools.progress import no_progress_bars
from tools.settings_registry import BY_NAME

__all__ = [
    "Engine",
    "Event",
    "Request",
    "Result",
    "Sampling",
    "get_engine",
    "loaded_engines",
    "unload_engines",
]

log = logging.getLogger(__name__)

#: How long the worker waits for more requests to join a batch (seconds).
BATCH_WINDOW_S = BY_NAME["batch_window_ms"].from_env() / 1000
#: Most rows in one generate call.
MAX_BATCH: int = BY_NAME["max_batch"].from_env()


class Engine:
    """A model and tokenizer loaded once, served by one worker thread."""

    def __init__(self, path: Path, device: str, dtype: torch.dtype, quantize: str = "none") -> None:
        self.path = path
        self.device = device
        self.dtype = dtype
        self.quantize = quantize  # "none" or "int8", resolved by `quantize.choose_quantize`
        self.key = engine_key(path, device, dtype, quantize)
        # None is the worker's signal to finish what is queued and exit (see `close`).
        self._queue: queue.Queue[Request | None] = queue.Queue()
        self._closed = False
        self._closing = threading.Lock()
        # The batch being collected or generated, and whether the worker is inside one:
        # `stop` cancels the one and waits out the other.
        self._current: list[Request] = []
        self._busy = threading.Event()
        # Set for real by `_load` (see decode_mode.py); these are what an unloaded engine reports.
        self._static: StaticCaches | None = None
        self.decode_mode: decode_mode.DecodePath = "dynamic"
        self.decode_probe: dict[str, float] = {}
        self.warmup_seconds = 0.0
        self.compile_seconds: dict[tuple[int, int], float] = {}  # observable: first call of each static shape
        # The CPU's own decoding loop (loop.py) when the model is one `LeanStep` covers.
        self._lean: LeanStep | None = None
        # The worker thread loads the model as well as running it: torch work on a
        # second thread gives OpenMP a second thread team, and with more OpenMP
        # threads than cores libgomp stops spin-waiting between parallel regions,
        # which made every decoding step ~1.6x slower on 2 cores (see the README).
        loaded: queue.Queue[BaseException | None] = queue.Queue()
        self._worker = threading.Thread(
            target=self._load_and_serve, args=(loaded,), name=f"hf-engine:{path.name}", daemon=True
        )
        self._worker.start()
        error = loaded.get()
        if error is not None:
            raise error
        self.batches_run = 0  # observable for tests: how many generate calls were made
        self.shared_prefix_tokens = 0  # observable: prompt tokens read once for a whole batch

    def _load_and_serve(self, loaded: queue.Queue[BaseException | None]) -> None:
        try:
            self._load()
        except BaseException as exc:  # reported to the caller of Engine()
            loaded.put(exc)
            return
        loaded.put(None)
        self._serve()

    def _load(self) -> None:
        started = time.monotonic()
        with no_progress_bars():
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            model: Any = AutoModelForCausalLM.from_pretrained(self.path, dtype=self.dtype)
        self.model: Any = model.to(self.device).eval()
        # int8 layers have their own kernel: the small-batch probe is for float weights.
        if not quantize_model(self.model, self.quantize) and self.device == "cpu":
            use_small_batch_matmul(self.model, MAX_BATCH)
        if self.device == "cpu" and FAST_DECODE and loop.covers(self.model):
            self._lean = LeanStep.build(self.model)
        log.info(
            "loaded %s on %s (%s, quantize=%s) in %.1f s",
            self.path.name,
            self.device,
            self.dtype,
            self.quantize,
            time.monotonic() - started,
        )
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self._static = StaticCaches(self.model, self.context_window)
        choice = decode_mode.choose(
            self.model,
            self.device,
            self.pad_id,
            self._static,
            engine_key=self.key,
            verdicts=model_cache_dir() / "decode-verdicts.json",
        )
        self.decode_mode = choice.mode
        self.decode_probe = choice.probe
        self.warmup_seconds = choice.warmup_seconds
        if self.decode_mode == "static" and self.device.startswith("cuda"):
            _allow_recompiles()
        log.info(
            "decoding %s on the %s path%s (%s%s)",
            self.path.name,
            self.decode_mode,
            " with the lean step" if self.decode_loop == "lean" else "",
            choice.reason,
            "".join(f", {path} {secs * 1e3:.1f} ms/token" for path, secs in choice.probe.items()),
        )

    def submit(self, req: Request) -> None:
        """Queue a request; its events arrive through `req.sink` from the worker thread.

        A request counts as a use of the engine in the registry's LRU order (a chat
        model holds its engine and never looks it up again). On a closed engine
        (evicted from the registry) the request goes to the registry's engine for
        the same model, which loads it again if need be.
        """
        with self._closing:
            accepted = not self._closed
            if accepted:
                self._queue.put(req)
        if accepted:
            _ENGINES.touch(self.key, self)
        else:
            get_engine(self.path, self.device, self.dtype, self.quantize).submit(req)

    @property
    def decode_loop(self) -> str:
        """``lean`` when dynamic-path batches run the engine's own loop (loop.py), else ``generate``."""
        return "lean" if self._lean is not None and self.decode_mode == "dynamic" else "generate"

    @property
    def closed(self) -> bool:
        """True once `close` was called: the engine takes no new requests."""
        return self._closed

    def close(self) -> None:
        """Take no new requests; finish the queued and running ones, then end the worker and free the model.

        Returns at once: the worker ends after the requests already submitted
        have had their results (see `join`). The tokenizer stays, for callers
        still holding this engine; what they submit goes to the registry.
        """
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for a closed engine's worker to end; True when it has (and the model is freed)."""
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every queued and running request and wait for the worker to go idle.

        Called at interpreter exit: a daemon thread killed inside torch's C++ code
        aborts the process ("terminate called without an active exception"), so an
        interrupted program lets the current decoding step finish first.
        """
        closing = False
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                break
            if req is None:
                closing = True
                continue
            req.cancelled.set()
            req.emit(("done", Result("", "cancelled", len(req.input_ids), 0)))
        if closing:
            self._queue.put(None)  # the worker still has to end
        for req in list(self._current):
            req.cancelled.set()
        deadline = time.monotonic() + timeout
        while self._busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _serve(self) -> None:
        closing = False
        while not closing:
            first = self._queue.get()
            if first is None:
                break
            batch = self._current = [first]
            self._busy.set()
            try:
                closing = self._serve_batch(batch)
            finally:
                self._current = []
                self._busy.clear()
        self._release()

    def _release(self) -> None:
        """Free the model after `close` (the worker's last step)."""
        self.model = None
        self._lean = None  # it holds the model's modules too
        if self._static is not None:
            self._static.clear()
        release_memory()
        if self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
        log.info("engine for %s (%s, %s) unloaded", self.path.name, self.device, self.dtype)

    def _serve_batch(self, batch: list[Request]) -> bool:
        """Wait a moment for more requests, then run them grouped by sampling settings.

        Returns True when the close signal came in while collecting: the worker ends after this batch.
        """
        closing = False
        deadline = time.monotonic() + BATCH_WINDOW_S
        while len(batch) < MAX_BATCH:
            try:
                req = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if req is None:
                closing = True
                break
            batch.append(req)
        groups: dict[object, list[Request]] = {}
        for req in batch:
            if req.cancelled.is_set():
                req.emit(("done", Result("", "cancelled", len(req.input_ids), 0)))
                continue
            groups.setdefault(req.batch_key(), []).append(req)
        for group in groups.values():
            self._run(group)
        return closing

    def _run(self, group: list[Request]) -> None:
        rows = [Row(req, self.tokenizer, self.eos_ids) for req in group]
        try:
            self._generate(rows)
        except BaseException as exc:  # the worker must survive any one bad batch
            log.exception("generation failed")
            for row in rows:
                row.req.emit(("error", exc))
            return
        for row in rows:
            row.req.emit(("done", row.result()))

    def _generate(self, rows: list[Row]) -> None:
        ids, mask, shared = batch_layout([row.req.input_ids for row in rows], self.pad_id)
        max_new_tokens = max(r.req.max_new_tokens for r in rows)
        need = ids.shape[1] + max_new_tokens
        fresh_shape = None
        cache: Any
        if self.decode_mode == "static" and self._static is not None:
            cache, fresh = self._static.get(len(rows), need)
            if fresh and self.device.startswith("cuda"):
                fresh_shape = (len(rows), cache.max_cache_len)
                log.info(
                    "first request of %d rows x %d tokens: compiling the decode step for it", *fresh_shape
                )
            if shared:
                prefill_shared_static(self.model, cache, ids[:1, :shared].to(self.device), len(rows))
        else:
            cache = new_cache(self.model, need)
            if shared:
                prefill_shared(self.model, cache, ids[:1, :shared].to(self.device), len(rows))
        if shared:
            self.shared_prefix_tokens += shared
        sampling = rows[0].req.sampling
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        self.batches_run += 1
        if self._lean is not None and self.decode_mode == "dynamic":
            loop.decode_rows(
                self.model,
                self._lean,
                ids.to(self.device),
                mask.to(self.device),
                cache,
                rows,
                max_new_tokens=max_new_tokens,
                pad_id=self.pad_id,
            )
            return
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            # transformers 5.x names it `cache`; `past_key_values` warns on every call.
            "cache": cache,
            "repetition_penalty": sampling.repetition_penalty,
            "pad_token_id": self.pad_id,
            "eos_token_id": sorted(self.eos_ids) or None,
            "streamer": BatchStreamer(rows),
            "stopping_criteria": [RowsDone(rows)],
        }
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        started = time.monotonic()
        with torch.inference_mode():
            self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs)
        if fresh_shape is not None:
            self.compile_seconds[fresh_shape] = time.monotonic() - started
            log.info(
                "decode step for %d rows x %d tokens ready (%.1f s)",
                *fresh_shape,
                self.compile_seconds[fresh_shape],
            )


def _allow_recompiles(limit: int = 64) -> None:
    """Let torch compile the decode step for more shapes than its default of 8.

    Past the limit dynamo falls back to eager, silently slow; the shapes the
    engine makes are few (rows x length buckets), so a higher cap is safe.
    """
    config: Any = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(int(getattr(config, name)), limit))
            return


def _eos_ids(model: Any, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids: set[int] = set()
    eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, list):
        ids.update(eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def max_engines() -> int:
    """How many engines the registry keeps: ``$COUNCIL_MAX_ENGINES``; read on every `get_engine`.

    Raises:
        ValueError: when the variable is set to anything but a positive integer.
    """
    max_engines: int = BY_NAME["max_engines"].from_env()
    return max_engines


EngineKey = tuple[str, str, str, str]


def engine_key(path: Path, device: str, dtype: torch.dtype, quantize: str = "none") -> EngineKey:
    """The registry's key for a model: one engine per (folder, device, dtype, quantization)."""
    return (str(path.resolve()), device, str(dtype), quantize)


def _evicted(key: EngineKey, engine: Engine) -> None:
    engine.close()  # the worker frees the model once the requests it holds are done


_ENGINES: LRUCache[EngineKey, Engine] = LRUCache(max_engines, _evicted, name="hf engines")
#: Every engine not yet garbage, in the registry or closing, for `stop_engines` at exit.
_ALL: weakref.WeakSet[Engine] = weakref.WeakSet()


def get_engine(path: Path, device: str, dtype: torch.dtype, quantize: str = "none") -> Engine:
    """Return the process-wide engine for this model, loading it on first use.

    At most `max_engines()` are kept; loading another closes the least recently
    used one first (see `Engine.close`).

    Raises:
        ValueError: for a bad ``$COUNCIL_MAX_ENGINES``.
    """
    key = engine_key(path, device, dtype, quantize)

    def load() -> Engine:
        engine = Engine(path, device, dtype, quantize)
        _ALL.add(engine)
        return engine

    while True:
        # Loads run outside the registry's lock: two different models load at once,
        # while two callers of the same model wait for one load.
        engine = _ENGINES.get_or_create(key, load)
        if not engine.closed:
            return engine
        _ENGINES.discard(key, engine)  # closed by hand while still in the registry: load afresh


def stop_engines(timeout: float = 30.0) -> None:
    """Stop every loaded or closing engine's work (see `Engine.stop`); runs at interpreter exit."""
    for engine in list(_ALL):
        engine.stop(timeout)


atexit.register(stop_engines)


def loaded_engines() -> list[Engine]:
    """Engines in the registry, least recently used first (for tests and benchmarks)."""
    return [engine for _, engine in _ENGINES.snapshot()]


def unload_engines() -> None:
    """Close every engine in the registry and empty it (tests and benchmarks)."""
    _ENGINES.clear()
