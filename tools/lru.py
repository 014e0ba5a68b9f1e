"""A bounded, thread-safe LRU cache for the process-wide registries whose keys come from callers.

The loaded models (`agents.models.hf.engine.get_engine`) and the retrievers
(`tools.retrieval.get_retriever`) are shared per settings, and over HTTP the
settings come from the client: a caller who varies them would otherwise make
the process keep one loaded model, or one open index, per variation. Each of
those registries is an `LRUCache`: it keeps at most a bound of entries (an
operator setting from `tools.settings_registry`) and hands the least recently used
entry to a callback that releases it when a new one needs the room.

    engines = LRUCache(BY_NAME["max_engines"].from_env, on_evict=stop_engine)
    engine = engines.get_or_create(key, lambda: Engine(...))
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Mapping[K, V], Generic[K, V]):
    """At most `maxsize()` entries; a lookup makes its entry the most recent, a new entry evicts the oldest.

    Reading it as a `Mapping` (``cache[key]``, ``len``, iteration) does not change the order.

    Args:
        maxsize: Returns the bound; called on every `get_or_create`, so a changed
            environment applies to the next lookup (and a bad value fails it).
        on_evict: Called with ``(key, value)`` for each entry that leaves the cache,
            outside the cache's lock; an exception it raises is logged, not raised.
        name: For log lines.
    """

    def __init__(
        self, maxsize: Callable[[], int], on_evict: Callable[[K, V], None], name: str = "cache"
    ) -> None:
        self._maxsize = maxsize
        self._on_evict = on_evict
        self._name = name
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, V] = OrderedDict()
        # Keys being created, so that concurrent callers of one key wait for one creation.
        self._pending: dict[K, threading.Event] = {}

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """The entry for `key`, made most recent; on a miss `create()` builds it.

        `create` runs outside the lock, so entries of different keys are built at
        once while callers of the same key wait for the one being built. Room is
        made before building (old entries evicted first), so the bound holds
        while the new entry is built, not only after.

        Raises:
            ValueError: when `maxsize()` does.
            Exception: whatever `create` raises (nothing is cached then).
        """
        limit = self._maxsize()
        while True:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
                building = self._pending.get(key)
                if building is None:
                    building = self._pending[key] = threading.Event()
                    # Every key being built will take a slot.
                    evicted = self._trim(limit - len(self._pending))
                    break
            building.wait()  # then look again: it is cached now, or its creation failed
        try:
            self._evict(evicted)
            value = create()
        except BaseException:
            with self._lock:
                del self._pending[key]
            building.set()
            raise
        with self._lock:
            self._entries[key] = value
            del self._pending[key]
            evicted = self._trim(limit)
        building.set()
        self._evict(evicted)
        return value

    def clear(self) -> None:
        """Evict every entry, oldest first (each goes to `on_evict`)."""
        with self._lock:
            evicted = list(self._entries.items())
            self._entries.clear()
        self._evict(evicted)

    def touch(self, key: K, value: V) -> None:
        """Make the entry for `key` the most recent, if it is still `value` (for callers that hold it)."""
        with self._lock:
            if self._entries.get(key) is value:
                self._entries.move_to_end(key)

    def discard(self, key: K, value: V) -> None:
        """Drop the entry for `key` if it is still `value`, without calling `on_evict`."""
        with self._lock:
            if self._entries.get(key) is value:
                del self._entries[key]

    def snapshot(self) -> list[tuple[K, V]]:
        """The entries, least recently used first (a copy; the order is not changed)."""
        with self._lock:
            return list(self._entries.items())

    def _trim(self, size: int) -> list[tuple[K, V]]:
        """Remove the oldest entries down to `size` (call with the lock held); return them."""
        evicted = []
        while self._entries and len(self._entries) > max(size, 0):
            evicted.append(self._entries.popitem(last=False))
        return evicted

    def _evict(self, evicted: list[tuple[K, V]]) -> None:
        for key, value in evicted:
            log.info("%s: evicting %r (least recently used)", self._name, key)
            try:
                self._on_evict(key, value)
            except Exception:
                log.exception("%s: releasing %r failed", self._name, key)

    # -- Mapping (read-only, order unchanged) ------------------------------------------

    def __getitem__(self, key: K) -> V:
        with self._lock:
            return self._entries[key]

    def __iter__(self) -> Iterator[K]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"LRUCache({self._name!r}, {len(self)} entries)"


def release_memory(collect: bool = True) -> None:
    """Free what an evicted entry left behind: collect reference cycles, then return free heap to the OS.

    ``malloc_trim`` (glibc) hands the freed pages of a dropped model or index back to
    the system, so the process's RSS falls instead of staying at its high-water mark;
    elsewhere only the collection runs.

    Args:
        collect: Run a full ``gc.collect()`` first. It holds the GIL for a few hundred
            milliseconds in a process with torch and LangChain loaded, so pass False
            where the entry is freed by reference counting alone.
    """
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


_trim_fn: Callable[[int], int] | None = None
_trim_looked_up = False


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim_fn, _trim_looked_up
    if not _trim_looked_up:
        _trim_looked_up = True
        if sys.platform.startswith("linux"):
            try:
                _trim_fn = ctypes.CDLL(None).malloc_trim
            except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
                _trim_fn = None
    return _trim_fn
