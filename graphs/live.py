"""Live progress for the CLI: a spinner while loading, and who is speaking with their tokens.

Experts run at the same time, so their tokens arrive interleaved. The first
speaker streams live; the others are buffered and printed, in order, as soon
as the live one finishes, so every speaker reads as one block.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from langchain_core.messages import AIMessageChunk, BaseMessage

from agents.personas import load_persona

#: What the coordinator is doing, by node.
_PHASES = {
    "en": {"coordinator": "planning", "synthesize": "writing the overview", "facts": "reading the facts"},
    "zh": {"coordinator": "规划", "synthesize": "撰写概述", "facts": "读取适用事实"},
}


@contextlib.contextmanager
def spinner(message: str, out: TextIO) -> Iterator[None]:
    """Show `message` with a spinner on a terminal (one plain line elsewhere) while work runs."""
    if not out.isatty():
        print(f"{message}…", file=out, flush=True)
        yield
        return
    done = threading.Event()

    def spin() -> None:
        for frame in itertools.cycle("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"):
            if done.wait(0.1):
                break
            print(f"\r{frame} {message}", end="", file=out, flush=True)
        print(f"\r✓ {message}", file=out, flush=True)

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()


class LivePrinter:
    """Prints the speakers of a run one block at a time."""

    def __init__(self, out: TextIO, language: str = "en") -> None:
        self.out = out
        self.language = language
        self._live: str | None = None
        self._order: list[str] = []
        self._buffer: dict[str, list[str]] = {}
        self._heading: dict[str, str] = {}
        self._persona: dict[str, str] = {}
        self._node: dict[str, str] = {}
        self._shown: set[str] = set()
        self._done: set[str] = set()

    def _title(self, persona: str, node: str) -> str:
        try:
            title = load_persona(persona).display(self.language)
        except ValueError:
            title = persona
        phase = _PHASES.get(self.language, _PHASES["en"]).get(node)
        return f"{title} — {phase}" if phase else title

    def token(self, chunk: BaseMessage, meta: Mapping[str, Any]) -> None:
        """One streamed chunk from a model call, with LangGraph's stream metadata."""
        if not isinstance(chunk, AIMessageChunk) or not chunk.text:
            return
        node = str(meta.get("langgraph_node", ""))
        persona = str(meta.get("persona") or node or "model")
        # Each parallel branch has its own checkpoint namespace; it tells two experts apart.
        key = str(meta.get("langgraph_checkpoint_ns") or f"{node}:{persona}")
        if key not in self._buffer:
            self._order.append(key)
            self._buffer[key] = []
            self._heading[key] = self._title(persona, node)
            self._persona[key] = persona
            self._node[key] = node
        if self._live is None:
            self._go_live(key)
        if key == self._live:
            print(chunk.text, end="", file=self.out, flush=True)
        else:
            self._buffer[key].append(chunk.text)

    def finished(self, node: str, persona: str | None = None) -> None:
        """Node `node` (for `persona`, if several run at once) is done: show who waits next."""
        for key in self._order:
            if key in self._done or self._node[key] != node:
                continue
            if persona is None or self._persona[key] == persona:
                self._done.add(key)
                break
        while self._live is not None and self._live in self._done:
            print(file=self.out, flush=True)
            self._live = None
            waiting = [k for k in self._order if k not in self._shown]
            if waiting:
                self._go_live(waiting[0])

    def _go_live(self, key: str) -> None:
        self._live = key
        self._shown.add(key)
        print(f"\n── {self._heading[key]} ──", file=self.out, flush=True)
        if self._buffer[key]:
            print("".join(self._buffer[key]), end="", file=self.out, flush=True)
            self._buffer[key].clear()

    def note(self, line: str) -> None:
        """A line of progress between speakers (sources found, mode chosen)."""
        if self._live is not None:
            return  # never break into a speaker's block; notes are also in the report
        print(line, file=self.out, flush=True)

    def close(self) -> None:
        """Print whatever is still buffered (end of the run)."""
        if self._live is not None:
            print(file=self.out, flush=True)
            self._live = None
        for key in self._order:
            if key not in self._shown:
                self._go_live(key)
                print(file=self.out, flush=True)
                self._live = None
