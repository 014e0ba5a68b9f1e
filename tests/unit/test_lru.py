"""tools/lru.py: the bound, LRU order, evictions and concurrent builds (bounds parse in the registry)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tools.lru import LRUCache


class Recorder:
    """A cache with a settable bound that records builds and evictions."""

    def __init__(self, bound: int = 2) -> None:
        self.bound = bound
        self.built: list[str] = []
        self.evicted: list[tuple[str, str]] = []
        self.cache: LRUCache[str, str] = LRUCache(lambda: self.bound, self._evict, name="test")

    def _evict(self, key: str, value: str) -> None:
        self.evicted.append((key, value))

    def get(self, key: str) -> str:
        def build() -> str:
            self.built.append(key)
            return f"value-{key}"

        return self.cache.get_or_create(key, build)


def test_the_bound_holds_and_the_oldest_goes_first():
    r = Recorder(bound=2)
    for key in "abcde":
        r.get(key)
        assert len(r.cache) <= 2
    assert list(r.cache) == ["d", "e"]
    assert r.evicted == [("a", "value-a"), ("b", "value-b"), ("c", "value-c")]


def test_a_hit_makes_the_entry_most_recent_and_does_not_rebuild():
    r = Recorder(bound=2)
    r.get("a")
    r.get("b")
    assert r.get("a") == "value-a"  # a is now the most recent: b goes next
    r.get("c")
    assert r.built == ["a", "b", "c"]
    assert [k for k, _ in r.evicted] == ["b"]
    assert list(r.cache) == ["a", "c"]


def test_reading_as_a_mapping_does_not_change_the_order():
    r = Recorder(bound=2)
    r.get("a")
    r.get("b")
    assert r.cache["a"] == "value-a" and "a" in r.cache and dict(r.cache) == {"a": "value-a", "b": "value-b"}
    r.get("c")
    assert [k for k, _ in r.evicted] == ["a"]


def test_each_eviction_calls_on_evict_exactly_once_and_clear_evicts_the_rest():
    r = Recorder(bound=1)
    for key in "abc":
        r.get(key)
    r.cache.clear()
    assert r.evicted == [("a", "value-a"), ("b", "value-b"), ("c", "value-c")]
    assert len(r.cache) == 0 and r.cache == {}


def test_room_is_made_before_the_new_entry_is_built():
    r = Recorder(bound=1)
    r.get("a")
    seen: list[int] = []
    r.cache.get_or_create("b", lambda: seen.append(len(r.cache)) or "value-b")
    assert seen == [0] and r.evicted == [("a", "value-a")]


def test_the_bound_is_read_on_every_lookup():
    r = Recorder(bound=3)
    for key in "abc":
        r.get(key)
    r.bound = 1
    r.get("a")  # a hit trims nothing
    assert len(r.cache) == 3
    r.get("d")
    assert list(r.cache) == ["d"]


def test_concurrent_callers_of_one_key_build_it_once():
    r = Recorder(bound=2)
    gate = threading.Event()
    calls: list[str] = []

    def slow() -> str:
        calls.append("built")
        gate.wait(5)
        return "slow"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(r.cache.get_or_create("k", slow))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join()
    assert calls == ["built"] and results == ["slow"] * 6


def test_a_failed_build_caches_nothing_and_the_next_caller_retries():
    r = Recorder(bound=2)

    def broken() -> str:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        r.cache.get_or_create("k", broken)
    assert "k" not in r.cache
    assert r.get("k") == "value-k"


def test_an_on_evict_error_is_logged_not_raised(caplog):
    def explode(key: str, value: str) -> None:
        raise OSError("disk gone")

    cache: LRUCache[str, str] = LRUCache(lambda: 1, explode, name="test")
    cache.get_or_create("a", lambda: "A")
    with caplog.at_level(logging.ERROR, logger="tools.lru"):
        assert cache.get_or_create("b", lambda: "B") == "B"
    assert "releasing 'a' failed" in caplog.text


def test_touch_makes_a_held_entry_most_recent():
    r = Recorder(bound=2)
    r.get("a")
    r.get("b")
    r.cache.touch("a", "stale")  # not the cached value: no effect
    assert list(r.cache) == ["a", "b"]
    r.cache.touch("a", r.cache["a"])
    r.get("c")
    assert [k for k, _ in r.evicted] == ["b"]


def test_discard_drops_only_the_same_value_without_evicting():
    r = Recorder(bound=2)
    r.get("a")
    r.cache.discard("a", "other")
    assert "a" in r.cache
    r.cache.discard("a", r.cache["a"])
    assert "a" not in r.cache and r.evicted == []
