"""One request's types and its decoding state inside a batch.

`Request` and its events are what callers hand the engine; `Row` turns the
tokens a batch produces for one request into streamed text, stopping on the
request's own stop strings, token limit or cancel; `BatchStreamer` and
`RowsDone` connect the rows to transformers' `generate`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria
from transformers.generation.streamers import BaseStreamer

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class Sampling:
    """Settings that must be equal for requests to share a batch."""

    temperature: float
    top_p: float
    repetition_penalty: float
    seed: int | None


@dataclass
class Result:
    """What a finished request produced."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


#: Events sent to a request's sink: ("token", str), ("done", Result) or ("error", BaseException).
Event = tuple[str, Any]


@dataclass(eq=False)
class Request:
    """One generation request: prompt ids in, events out through `sink`."""

    input_ids: list[int]
    sampling: Sampling
    max_new_tokens: int
    stop: tuple[str, ...]
    sink: Callable[[Event], None]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def emit(self, event: Event) -> None:
        """Send an event; a caller that has gone away (closed loop) stops its row."""
        try:
            self.sink(event)
        except Exception:
            self.cancelled.set()

    def batch_key(self) -> object:
        """Requests with equal keys may share a generate call."""
        # A seeded sampled request runs alone so its random stream, and so its
        # text, does not depend on what else was in the batch.
        if self.sampling.seed is not None and self.sampling.temperature > 0:
            return self
        return self.sampling


class Row:
    """Decoding state of one request inside a running batch."""

    def __init__(self, req: Request, tokenizer: PreTrainedTokenizerBase, eos_ids: set[int]) -> None:
        self.req = req
        self.tok = tokenizer
        self.eos_ids = eos_ids
        self.ids: list[int] = []
        self.prefix = 0  # incremental detokenisation offsets
        self.read = 0
        self.text = ""
        self.emitted = 0
        self.finish: FinishReason | None = None
        self.max_stop = max((len(s) for s in req.stop), default=0)

    def push(self, token: int) -> None:
        """Take the next generated token: stream its text or finish the row."""
        if self.finish is not None:
            return
        if self.req.cancelled.is_set():
            self.finish = "cancelled"
            return
        if token in self.eos_ids:
            self.finish = "stop"
            self._flush(len(self.text))
            return
        self.ids.append(token)
        self._decode()
        if self.req.stop:
            hits = [
                i for i in (self.text.find(s, max(0, self.emitted - self.max_stop)) for s in self.req.stop)
            ]
            found = [i for i in hits if i >= 0]
            if found:
                self.text = self.text[: min(found)]
                self.finish = "stop"
                self._flush(len(self.text))
                return
        if len(self.ids) >= self.req.max_new_tokens:
            self.finish = "length"
            self._flush(len(self.text))
            return
        self._flush(self._safe_end())

    def _decode(self) -> None:
        # Decode only a short window so each token costs O(1), and hold text
        # back while it ends in a partial UTF-8 character.
        before = str(self.tok.decode(self.ids[self.prefix : self.read], skip_special_tokens=True))
        after = str(self.tok.decode(self.ids[self.prefix :], skip_special_tokens=True))
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.text += after[len(before) :]
            self.prefix, self.read = self.read, len(self.ids)

    def _safe_end(self) -> int:
        # Hold back a tail that could still grow into a stop string.
        end = len(self.text)
        for stop in self.req.stop:
            for n in range(min(len(stop) - 1, end), 0, -1):
                if self.text.endswith(stop[:n]):
                    end = min(end, len(self.text) - n)
                    break
        return end

    def _flush(self, end: int) -> None:
        if end > self.emitted:
            self.req.emit(("token", self.text[self.emitted : end]))
            self.emitted = end

    def result(self) -> Result:
        """Flush what is left and return the row's outcome."""
        self._flush(len(self.text))
        # A cancel seen only by RowsDone can end the batch before this row gets another token.
        finish = self.finish or ("cancelled" if self.req.cancelled.is_set() else "length")
        return Result(self.text, finish, len(self.req.input_ids), len(self.ids))


class BatchStreamer(BaseStreamer):
    """Routes each generated token to its row; the first `put` is the prompt."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.seen_prompt = False

    def put(self, value: torch.Tensor) -> None:
        """Hand each row its newest token (the prompt, sent first, is skipped)."""
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        for row, token in zip(self.rows, value.reshape(len(self.rows), -1)[:, -1].tolist(), strict=True):
            row.push(int(token))

    def end(self) -> None:
        """Nothing to do: each row finishes through `Row.result`."""


class RowsDone(StoppingCriteria):
    """Per-row stop: a row ends when its own stop string, limit or cancel hits."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        """One flag per row: True once that row has finished or was cancelled."""
        done = [row.finish is not None or row.req.cancelled.is_set() for row in self.rows]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]
