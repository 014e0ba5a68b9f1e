"""The hf engine registry (engine.py): bounded LRU by $COUNCIL_MAX_ENGINES, eviction closes engines.

No model is loaded: the registry tests swap `Engine` for a fake, and the close tests run a
real `Engine` (worker thread, queue) whose loading and generation are stubbed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from agents.models.hf import engine as engine_mod
from agents.models.hf.engine import Engine, Request, Result, Sampling
from tests.hf_engine_helpers import Sink

GREEDY = Sampling(temperature=0.0, top_p=1.0, repetition_penalty=1.0, seed=None)


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch):
    monkeypatch.delenv("COUNCIL_MAX_ENGINES", raising=False)
    engine_mod.unload_engines()
    yield
    engine_mod.unload_engines()


class FakeEngine:
    """Counts loads and closes; what `get_engine` builds in the registry tests."""

    loads: ClassVar[list[FakeEngine]] = []

    def __init__(self, path: Path, device: str, dtype: torch.dtype, quantize: str = "none") -> None:
        self.path, self.device, self.dtype, self.quantize = path, device, dtype, quantize
        self.closes = 0
        FakeEngine.loads.append(self)

    @property
    def closed(self) -> bool:
        return self.closes > 0

    def close(self) -> None:
        self.closes += 1

    def stop(self, timeout: float = 30.0) -> None:
        pass


@pytest.fixture
def fake_engines(monkeypatch) -> list[FakeEngine]:
    FakeEngine.loads = []
    monkeypatch.setattr(engine_mod, "Engine", FakeEngine)
    return FakeEngine.loads


def get(tmp_path: Path, name: str, dtype: torch.dtype = torch.float32) -> Any:
    return engine_mod.get_engine(tmp_path / name, "cpu", dtype)


def test_the_default_bound_is_two_and_the_oldest_engine_is_closed_once(tmp_path, fake_engines):
    a, b = get(tmp_path, "a"), get(tmp_path, "b")
    c = get(tmp_path, "c")
    assert engine_mod.max_engines() == 2
    assert engine_mod.loaded_engines() == [b, c]
    assert (a.closes, b.closes, c.closes) == (1, 0, 0)
    get(tmp_path, "d")
    assert (a.closes, b.closes, c.closes) == (1, 1, 0)


def test_the_bound_comes_from_the_environment(tmp_path, fake_engines, monkeypatch):
    monkeypatch.setenv("COUNCIL_MAX_ENGINES", "3")
    engines = [get(tmp_path, name) for name in "abcde"]
    assert engine_mod.loaded_engines() == engines[2:]
    assert [e.closes for e in engines] == [1, 1, 0, 0, 0]


def test_dtype_and_device_are_part_of_the_key(tmp_path, fake_engines):
    a32 = get(tmp_path, "a")
    a16 = get(tmp_path, "a", torch.bfloat16)
    assert a32 is not a16 and len(fake_engines) == 2


def test_quantization_is_part_of_the_key(tmp_path, fake_engines):
    plain = get(tmp_path, "a")
    int8 = engine_mod.get_engine(tmp_path / "a", "cpu", torch.float32, "int8")
    assert plain is not int8 and (plain.quantize, int8.quantize) == ("none", "int8")
    assert engine_mod.get_engine(tmp_path / "a", "cpu", torch.float32, "int8") is int8
    assert len(fake_engines) == 2


def test_a_hit_does_not_reload_and_makes_the_engine_most_recent(tmp_path, fake_engines):
    a, b = get(tmp_path, "a"), get(tmp_path, "b")
    assert get(tmp_path, "a") is a
    assert engine_mod.get_engine(tmp_path / "x" / ".." / "a", "cpu", torch.float32) is a  # same folder
    assert len(fake_engines) == 2
    get(tmp_path, "c")  # b is now the least recently used
    assert (a.closes, b.closes) == (0, 1)


def test_an_engine_closed_by_hand_is_not_handed_out(tmp_path, fake_engines):
    a = get(tmp_path, "a")
    a.close()
    again = get(tmp_path, "a")
    assert again is not a and not again.closed


@pytest.mark.parametrize("raw", ["x", "0", "2.5"])
def test_a_bad_bound_is_one_clear_value_error(tmp_path, fake_engines, monkeypatch, raw):
    monkeypatch.setenv("COUNCIL_MAX_ENGINES", raw)
    with pytest.raises(ValueError) as info:
        get(tmp_path, "a")
    assert str(info.value) == f"invalid value for $COUNCIL_MAX_ENGINES: {raw!r} (expected a positive integer)"
    assert fake_engines == []


# -- closing a real Engine (stubbed load and generation) ---------------------------------


def request(sink: Sink) -> Request:
    return Request(input_ids=[1, 2, 3], sampling=GREEDY, max_new_tokens=4, stop=(), sink=sink)


@pytest.fixture
def stub_engine(monkeypatch):
    """Engines whose load sets fake attributes and whose generation waits for `gate`, then answers."""
    gate, entered = threading.Event(), threading.Event()
    served: list[tuple[Engine, int]] = []

    def load(self: Engine) -> None:
        self.tokenizer = object()
        self.model = object()
        self._lean = object()  # type: ignore[assignment]  # a lean step holds the model too
        self.eos_ids = set()
        self.context_window = 2048
        self.pad_id = 0

    def run(self: Engine, group: list[Request]) -> None:
        entered.set()
        gate.wait(10)
        for req in group:
            served.append((self, len(req.input_ids)))
            req.emit(("done", Result("ok", "stop", len(req.input_ids), 1)))

    monkeypatch.setattr(Engine, "_load", load)
    monkeypatch.setattr(Engine, "_run", run)
    return gate, entered, served


def test_close_finishes_queued_and_running_requests_then_ends_the_worker(tmp_path, stub_engine):
    gate, _, _ = stub_engine
    engine = Engine(tmp_path, "cpu", torch.float32)
    sinks = [Sink() for _ in range(3)]
    for sink in sinks:
        engine.submit(request(sink))
    engine.close()
    engine.close()  # idempotent
    assert engine.closed and not engine.join(0.05)  # still serving what it was given
    gate.set()
    assert engine.join(5)
    assert all(s.done.is_set() and s.events[-1][0] == "done" for s in sinks)
    assert [r.finish_reason for s in sinks for kind, r in s.events] == ["stop"] * 3
    assert engine.model is None and engine._lean is None  # weights dropped (the lean step held them)
    # The tokenizer stays, for callers still holding the engine.
    assert engine.tokenizer is not None


def test_eviction_closes_the_engine_and_a_stale_holder_is_served_by_a_fresh_one(
    tmp_path, stub_engine, monkeypatch
):
    gate, _, served = stub_engine
    gate.set()
    monkeypatch.setenv("COUNCIL_MAX_ENGINES", "1")
    a = engine_mod.get_engine(tmp_path / "a", "cpu", torch.float32)
    b = engine_mod.get_engine(tmp_path / "b", "cpu", torch.float32)
    assert a.closed and a.join(5) and a.model is None
    assert engine_mod.loaded_engines() == [b]

    sink = Sink()
    a.submit(request(sink))  # e.g. a chat model that cached its engine before the eviction
    assert sink.done.wait(5) and sink.events[-1][0] == "done"
    (fresh,) = engine_mod.loaded_engines()
    assert fresh is not a and fresh.path == a.path and served[-1][0] is fresh
    assert b.closed and b.join(5)


def test_a_request_on_a_held_engine_counts_as_a_use(tmp_path, stub_engine):
    gate, _, _ = stub_engine
    gate.set()
    a = engine_mod.get_engine(tmp_path / "a", "cpu", torch.float32)
    b = engine_mod.get_engine(tmp_path / "b", "cpu", torch.float32)
    sink = Sink()
    a.submit(request(sink))  # through a reference a chat model kept, not through get_engine
    assert sink.done.wait(5)
    engine_mod.get_engine(tmp_path / "c", "cpu", torch.float32)
    assert b.closed and not a.closed


def test_stop_at_exit_still_lets_a_closing_worker_end(tmp_path, stub_engine):
    gate, entered, _ = stub_engine
    engine = Engine(tmp_path, "cpu", torch.float32)
    running, queued = Sink(), Sink()
    engine.submit(request(running))
    assert entered.wait(5)  # the first request is generating; the second waits in the queue
    engine.submit(request(queued))
    engine.close()
    engine.stop(timeout=0.05)  # cancels the queued request, keeps the close signal
    assert queued.done.is_set() and queued.events[-1][1].finish_reason == "cancelled"
    gate.set()
    assert engine.join(5)
    assert running.events[-1][0] == "done"
