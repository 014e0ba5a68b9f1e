"""Live progress for the CLI: a spinner while loading, and who is speaking with their tokens.

Experts run at the same time, so their tokens arrive interleaved. The first
speaker streams live; the others are buffered and printed, in order, as soon
as the live one finishes, so every speaker reads as one block.

Nothing is silent for long: whenever no line was printed for `HEARTBEAT_S`
(loading, retrieval, a model reading its prompt before its first token), a
heartbeat line says what is still going on ("… still reading the prompt (2400
tokens), 12 s"). On a CPU, prefill alone can take a minute.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, TextIO
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk, BaseMessage

from agents.history import approx_tokens
from agents.personas import load_persona

#: Seconds without a printed line before a heartbeat line says what is still running.
HEARTBEAT_S = 10.0

#: What the coordinator is doing, by node.
_PHASES = {
    "en": {"coordinator": "planning", "synthesize": "writing the overview", "facts": "reading the facts"},
    "zh": {"coordinator": "规划", "synthesize": "撰写概述", "facts": "读取适用事实"},
}
#: What a node is doing while it runs, for heartbeat lines.
_NODE_ACTIVITY = {
    "retrieve": "retrieving passages",
    "facts": "working out the applicability facts",
    "obligations": "choosing the requirements",
    "consult": "consulting the experts",
    "coordinator": "planning",
    "synthesize": "writing the overview",
}


class Heartbeat:
    """Prints "… still <activity>, N s" on `out` whenever nothing was printed for `interval_s`.

    Everything the CLI prints goes through `print`, which resets the clock; a
    daemon thread checks it. `interval_s` is small in tests.
    """

    def __init__(self, out: TextIO, interval_s: float = HEARTBEAT_S) -> None:
        self.out = out
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._activity = ""
        self._since = self._last
        self._paused = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def print(self, *args: Any, **kwargs: Any) -> None:
        """`print` to `out`, resetting the silence clock."""
        with self._lock:
            print(*args, file=self.out, flush=True, **kwargs)
            self._last = time.monotonic()

    def doing(self, activity: str) -> None:
        """What is running now; starts the heartbeat thread on first use."""
        with self._lock:
            if activity != self._activity:
                self._activity, self._since = activity, time.monotonic()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No heartbeat lines while something else shows progress (a terminal spinner)."""
        self._paused = True
        try:
            yield
        finally:
            with self._lock:
                self._paused, self._last = False, time.monotonic()

    def stop(self) -> None:
        """Stop the thread (it starts again with the next `doing`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s / 5):
            with self._lock:
                now = time.monotonic()
                if self._paused or not self._activity or now - self._last < self.interval_s:
                    continue
                print(f"… still {self._activity}, {now - self._since:.0f} s", file=self.out, flush=True)
                self._last = now


class PromptWatcher(BaseCallbackHandler):
    """Tells the live printer when a model starts reading a prompt, and how long the prompt is."""

    run_inline = True  # called on the event loop, in order with the stream

    def __init__(self, live: LivePrinter) -> None:
        self.live = live

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A model call began: until its first token, it is reading its prompt."""
        tokens = sum(approx_tokens(m.text) for batch in messages for m in batch)
        meta = metadata or {}
        self.live.reading(str(meta.get("persona") or meta.get("langgraph_node") or "model"), tokens)


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

    def __init__(self, out: TextIO, language: str = "en", heartbeat_s: float = HEARTBEAT_S) -> None:
        self.out = out
        self.language = language
        self.beat = Heartbeat(out, heartbeat_s)
        self._print = self.beat.print
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
        # A buffered speaker is writing too: the heartbeat names whoever sent the last token.
        self.beat.doing(f"{self._heading[key]}: writing")
        if key == self._live:
            self._print(chunk.text, end="")
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
            self._print()
            self._live = None
            waiting = [k for k in self._order if k not in self._shown]
            if waiting:
                self._go_live(waiting[0])

    def _go_live(self, key: str) -> None:
        self._live = key
        self._shown.add(key)
        self._print(f"\n── {self._heading[key]} ──")
        if self._buffer[key]:
            self._print("".join(self._buffer[key]), end="")
            self._buffer[key].clear()

    def note(self, line: str) -> None:
        """A line of progress between speakers (sources found, mode chosen)."""
        if self._live is not None:
            return  # never break into a speaker's block; notes are also in the report
        self._print(line)

    def started(self, node: str) -> None:
        """Node `node` began running (from LangGraph's ``tasks`` stream)."""
        self.beat.doing(_NODE_ACTIVITY.get(node, f"running {node}"))

    def reading(self, persona: str, tokens: int) -> None:
        """A model for `persona` began reading a prompt of about `tokens` tokens."""
        try:
            title = load_persona(persona).display(self.language)
        except ValueError:
            title = persona
        self.beat.doing(f"reading the prompt ({title}, about {tokens} tokens)")

    @contextlib.contextmanager
    def loading(self, message: str) -> Iterator[None]:
        """A spinner (one line, then heartbeats, off a terminal) while `message` runs."""
        self.beat.doing(message)
        quiet = self.beat.paused() if self.out.isatty() else contextlib.nullcontext()
        with quiet, spinner(message, self.out):
            yield

    def close(self) -> None:
        """Print whatever is still buffered (end of the run)."""
        self.beat.stop()
        if self._live is not None:
            self._print()
            self._live = None
        for key in self._order:
            if key not in self._shown:
                self._go_live(key)
                self._print()
                self._live = None
