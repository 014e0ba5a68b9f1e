"""Run a server preflight once per (server, model) per process.

Every node fetches its model, and a served graph runs many nodes per turn, so
probing the server each time would add a round trip per node. A successful
check is remembered; a failed one is not, so a server started later is found.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["forget_preflights", "preflight_once"]

_passed: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def preflight_once(kind: str, base_url: str, model: str, check: Callable[[str, str], None]) -> None:
    """Call ``check(base_url, model)`` unless it already passed for this (kind, base_url, model).

    Args:
        kind: The backend ("ollama", "openai"), so two backends on one URL are checked apart.
        base_url: The normalized server URL.
        model: The model name as the user wrote it.
        check: The probe; it raises when the server or model is not there.
    """
    key = (kind, base_url, model)
    with _lock:
        if key in _passed:
            return
    check(base_url, model)  # outside the lock: a slow probe must not block other servers
    with _lock:
        _passed.add(key)


def forget_preflights() -> None:
    """Forget every passed check (tests; an operator who swapped a server's models)."""
    with _lock:
        _passed.clear()
