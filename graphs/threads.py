"""The threads in a checkpointer: list them (id, last update, title) and check one exists.

`list_threads` and `thread_exists` work on any saver through the generic
``list``/``get_tuple`` API, so the CLI's ``--list-threads`` and ``--thread``
behave the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

#: Longest thread title `list_threads` returns, in characters.
TITLE_MAX_CHARS = 72

__all__ = ["ThreadInfo", "alist_threads", "athread_exists", "list_threads", "thread_exists"]


@dataclass(frozen=True)
class ThreadInfo:
    """One conversation in the thread database.

    Attributes:
        thread_id: The id to pass as ``configurable.thread_id`` (CLI ``--thread``).
        updated_at: When its latest checkpoint was written (UTC), if known.
        checkpoints: How many checkpoints the thread has (top-level graph only).
        messages: Messages in its latest state; None when the state has no ``messages``.
        title: The first line of its first human message, shortened; "" if none.
    """

    thread_id: str
    updated_at: datetime | None
    checkpoints: int
    messages: int | None
    title: str


def _text_of(content: Any) -> str:
    """Plain text of a message's content (a string or a list of content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b if isinstance(b, str) else b.get("text", "") for b in content if isinstance(b, str | dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _title(messages: list[Any]) -> str:
    from langchain_core.messages import HumanMessage

    for message in messages:
        if isinstance(message, HumanMessage):
            for line in _text_of(message.content).splitlines():
                if line.strip():
                    line = " ".join(line.split())
                    if len(line) > TITLE_MAX_CHARS:
                        line = line[: TITLE_MAX_CHARS - 1].rstrip() + "…"
                    return line
            return ""
    return ""


def _as_messages(value: Any) -> list[Any] | None:
    """`value` as a list of messages, or None if it is not one (no `messages` channel)."""
    if value is None:
        return None
    from langchain_core.messages import convert_to_messages

    try:
        # Input still in pending writes is as the caller gave it (dicts, tuples, strings).
        return list(convert_to_messages(value if isinstance(value, list) else [value]))
    except (ValueError, TypeError, NotImplementedError):
        return None


def _latest_messages(tup: CheckpointTuple) -> list[Any] | None:
    values = tup.checkpoint.get("channel_values") or {}
    messages = _as_messages(values.get("messages"))
    if messages is not None:
        return messages
    # A turn interrupted before its first step (e.g. a killed process) leaves its input
    # only in the pending writes of the latest checkpoint; show it rather than nothing.
    for _task, channel, value in tup.pending_writes or ():
        if channel == "messages":
            return _as_messages(value)
        if channel == "__start__" and isinstance(value, dict) and "messages" in value:
            return _as_messages(value["messages"])
    return None


class _ThreadCollector:
    """Folds checkpoint tuples, in any order, into one `ThreadInfo` per thread."""

    def __init__(self) -> None:
        self.latest: dict[str, CheckpointTuple] = {}
        self.counts: dict[str, int] = {}

    def add(self, tup: CheckpointTuple) -> None:
        conf = tup.config.get("configurable", {})
        if conf.get("checkpoint_ns", ""):
            return  # a subgraph's checkpoint: part of its parent's turn, not a thread
        thread_id = str(conf.get("thread_id"))
        self.counts[thread_id] = self.counts.get(thread_id, 0) + 1
        best = self.latest.get(thread_id)
        # Checkpoint ids are time-ordered UUIDv6 strings; comparing them does not depend on
        # the order a saver happens to list in.
        if best is None or str(conf.get("checkpoint_id", "")) > str(
            best.config["configurable"].get("checkpoint_id", "")
        ):
            self.latest[thread_id] = tup

    def result(self) -> list[ThreadInfo]:
        infos = []
        for thread_id, tup in self.latest.items():
            messages = _latest_messages(tup)
            infos.append(
                ThreadInfo(
                    thread_id=thread_id,
                    updated_at=_parse_ts(tup.checkpoint.get("ts")),
                    checkpoints=self.counts[thread_id],
                    messages=None if messages is None else len(messages),
                    title=_title(messages or []),
                )
            )
        # Newest first; threads without a timestamp last; ties by id for a stable order.
        infos.sort(key=lambda t: t.thread_id)
        infos.sort(key=lambda t: t.updated_at.timestamp() if t.updated_at else float("-inf"), reverse=True)
        return infos


def _parse_ts(ts: Any) -> datetime | None:
    if not isinstance(ts, str):
        return None
    try:
        return datetime.fromisoformat(ts)
    except ValueError:
        return None


def _collect(tuples: Iterable[CheckpointTuple]) -> list[ThreadInfo]:
    collector = _ThreadCollector()
    for tup in tuples:
        collector.add(tup)
    return collector.result()


def list_threads(checkpointer: BaseCheckpointSaver) -> list[ThreadInfo]:
    """Every thread in `checkpointer`, most recently updated first.

    Reads every checkpoint once through the generic ``list(None)`` API, so it
    works on any saver (SQLite, PostgreSQL, in-memory); cost grows with the
    number of checkpoints, which is fine for a CLI listing.

    Args:
        checkpointer: A sync saver, e.g. from `open_checkpointer`.

    Returns:
        One `ThreadInfo` per thread.
    """
    return _collect(checkpointer.list(None))


async def alist_threads(checkpointer: BaseCheckpointSaver) -> list[ThreadInfo]:
    """Async `list_threads`, for savers from `open_async_checkpointer`.

    Args:
        checkpointer: An async-capable saver.

    Returns:
        One `ThreadInfo` per thread, most recently updated first.
    """
    collector = _ThreadCollector()
    async for tup in checkpointer.alist(None):
        collector.add(tup)
    return collector.result()


def thread_exists(checkpointer: BaseCheckpointSaver, thread_id: str) -> bool:
    """Whether `thread_id` has at least one checkpoint (e.g. to reject an unknown ``--thread``).

    Args:
        checkpointer: A sync saver.
        thread_id: The thread to look up.

    Returns:
        True if the thread exists.
    """
    return checkpointer.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}) is not None


async def athread_exists(checkpointer: BaseCheckpointSaver, thread_id: str) -> bool:
    """Async `thread_exists`.

    Args:
        checkpointer: An async-capable saver.
        thread_id: The thread to look up.

    Returns:
        True if the thread exists.
    """
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    return await checkpointer.aget_tuple(config) is not None
