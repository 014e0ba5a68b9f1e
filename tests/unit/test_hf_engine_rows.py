"""Per-row decoding in engine.py (`Row`, `BatchStreamer`, `RowsDone`) with a fake tokenizer.

No model: tokens are pushed by hand the way `generate` would push them, and each
row's events are what its caller would receive.
"""

import threading

import pytest
import torch

from agents.models.hf.engine import Engine
from agents.models.hf.rows import BatchStreamer, Request, Result, Row, RowsDone, Sampling

GREEDY = Sampling(temperature=0.0, top_p=1.0, repetition_penalty=1.1, seed=None)
EOS = 0
IM_START = 1


class FakeTokenizer:
    """A byte-level vocabulary built on demand: each new piece gets the next id.

    `decode` joins the pieces' bytes and decodes them as UTF-8 with replacement, like a
    byte-level BPE tokenizer, so a multi-byte character split over two tokens decodes
    to U+FFFD until its second half arrives.
    """

    def __init__(self) -> None:
        self.pieces: list[bytes] = [b"<|im_end|>", b"<|im_start|>"]
        self.special = {EOS, IM_START}

    def id(self, piece: str | bytes) -> int:
        raw = piece.encode() if isinstance(piece, str) else piece
        if raw not in self.pieces:
            self.pieces.append(raw)
        return self.pieces.index(raw)

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        kept = [i for i in ids if not (skip_special_tokens and i in self.special)]
        return b"".join(self.pieces[i] for i in kept).decode("utf-8", errors="replace")


class FakeCaller:
    """What a caller receives through a request's sink."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def __call__(self, event: tuple[str, object]) -> None:
        self.events.append(event)

    @property
    def text(self) -> str:
        return "".join(str(v) for k, v in self.events if k == "token")


def make_row(
    tok: FakeTokenizer, *, stop: tuple[str, ...] = (), max_new_tokens: int = 100, sampling: Sampling = GREEDY
) -> tuple[Row, FakeCaller]:
    caller = FakeCaller()
    req = Request(
        input_ids=[IM_START, 7, 8, 9],
        sampling=sampling,
        max_new_tokens=max_new_tokens,
        stop=stop,
        sink=caller,
    )
    return Row(req, tok, {EOS}), caller  # type: ignore[arg-type]


def push(row: Row, tok: FakeTokenizer, *pieces: str | bytes) -> None:
    for piece in pieces:
        row.push(tok.id(piece))


# -- text, EOS, limits ------------------------------------------------------------------------


def test_tokens_are_streamed_as_they_decode():
    tok = FakeTokenizer()
    row, caller = make_row(tok)
    seen = []
    for piece in ("Hello", ",", " world"):
        push(row, tok, piece)
        seen.append(caller.text)
    assert seen == ["Hello", "Hello,", "Hello, world"]
    assert row.finish is None


def test_eos_ends_the_row_with_stop_and_is_not_part_of_the_reply():
    tok = FakeTokenizer()
    row, caller = make_row(tok)
    push(row, tok, "Hi", " there")
    row.push(EOS)
    push(row, tok, " ignored")

    assert row.finish == "stop"
    assert caller.text == "Hi there"
    assert row.result() == Result("Hi there", "stop", prompt_tokens=4, completion_tokens=2)


def test_max_new_tokens_ends_the_row_with_length():
    tok = FakeTokenizer()
    row, caller = make_row(tok, max_new_tokens=3)
    push(row, tok, "a", "b")
    assert row.finish is None
    push(row, tok, "c")
    assert row.finish == "length"
    push(row, tok, "d")  # generate may run on for other rows: ignored

    assert caller.text == "abc"
    assert row.result() == Result("abc", "length", prompt_tokens=4, completion_tokens=3)


def test_special_tokens_count_but_show_no_text():
    tok = FakeTokenizer()
    row, caller = make_row(tok)
    row.push(IM_START)
    push(row, tok, "x")
    assert caller.text == "x"
    assert row.result().completion_tokens == 2


def test_multibyte_character_split_across_tokens_is_never_garbled():
    tok = FakeTokenizer()
    row, caller = make_row(tok)
    push(row, tok, b"caf", b"\xc3")  # first byte of "é"
    assert caller.text == "caf"
    push(row, tok, b"\xa9!")
    assert caller.text == "café!"
    assert all("\ufffd" not in str(v) for _, v in caller.events)


# -- stop strings ------------------------------------------------------------------------------


def test_stop_string_in_one_token_is_cut_and_not_emitted():
    tok = FakeTokenizer()
    row, caller = make_row(tok, stop=("END",))
    push(row, tok, "Draft", " clause END of", " more")

    assert row.finish == "stop"
    assert caller.text == "Draft clause "
    assert row.result() == Result("Draft clause ", "stop", prompt_tokens=4, completion_tokens=2)


def test_stop_string_split_across_tokens_is_held_back_then_cut():
    tok = FakeTokenizer()
    row, caller = make_row(tok, stop=("END",))
    push(row, tok, "Hello ", "E")
    assert caller.text == "Hello "  # "E" could start "END": held back
    push(row, tok, "N")
    assert caller.text == "Hello "
    assert row.finish is None
    push(row, tok, "D!")

    assert row.finish == "stop"
    assert caller.text == "Hello "
    assert "E" not in caller.text
    assert row.result().text == "Hello "


def test_a_false_stop_prefix_is_emitted_once_it_is_ruled_out():
    tok = FakeTokenizer()
    row, caller = make_row(tok, stop=("END",))
    push(row, tok, "Hello ", "EN")
    assert caller.text == "Hello "
    push(row, tok, "VY and")

    assert caller.text == "Hello ENVY and"
    assert row.finish is None


def test_a_held_back_prefix_is_flushed_when_eos_ends_the_row():
    tok = FakeTokenizer()
    row, caller = make_row(tok, stop=("END",))
    push(row, tok, "Hello ", "EN")
    row.push(EOS)
    assert (row.finish, caller.text, row.result().text) == ("stop", "Hello EN", "Hello EN")


def test_a_held_back_prefix_is_flushed_when_the_limit_ends_the_row():
    tok = FakeTokenizer()
    row, caller = make_row(tok, stop=("END",), max_new_tokens=2)
    push(row, tok, "Hello ", "EN")
    assert (row.finish, caller.text) == ("length", "Hello EN")


def test_the_earliest_of_several_stop_strings_wins():
    tok = FakeTokenizer()
    row, caller = make_row(tok, stop=("STOP", "\n\n"))
    push(row, tok, "one\n", "\ntwo STOP")
    assert (row.finish, caller.text) == ("stop", "one")


def test_stop_string_far_into_a_long_reply():
    tok = FakeTokenizer()
    row, caller = make_row(tok, stop=("<END>",))
    words = [f"w{i} " for i in range(50)]
    push(row, tok, *words, "<", "EN", "D> tail")
    assert caller.text == "".join(words)
    assert row.finish == "stop"


def test_stream_and_result_always_agree():
    tok = FakeTokenizer()
    for pieces, stop in [
        (("a", "bS", "TO", "P", "c"), ("STOP",)),
        (("aS", "T", "x", "S", "TOP"), ("STOP",)),
        (("x", "y", "z"), ("yz", "q")),
    ]:
        row, caller = make_row(tok, stop=stop)
        push(row, tok, *pieces)
        assert caller.text == row.result().text
        assert not any(s in caller.text for s in stop)


# -- cancellation ------------------------------------------------------------------------------


def test_cancel_ends_the_row_as_cancelled():
    tok = FakeTokenizer()
    row, caller = make_row(tok)
    push(row, tok, "partial")
    row.req.cancelled.set()
    push(row, tok, " more")

    assert row.finish == "cancelled"
    assert row.ids == [tok.id("partial")]
    assert row.result().finish_reason == "cancelled"
    assert caller.text == "partial"


def test_cancel_noticed_only_by_the_stopping_criteria_is_still_cancelled():
    # The caller may leave between the streamer's put and the stopping check; if that
    # ends the batch, the row never sees another token.
    tok = FakeTokenizer()
    row, _ = make_row(tok)
    push(row, tok, "partial")
    row.req.cancelled.set()
    assert RowsDone([row])(torch.zeros((1, 5), dtype=torch.long), torch.zeros((1, 3))).tolist() == [True]
    assert row.result().finish_reason == "cancelled"


def test_a_caller_that_went_away_cancels_its_row():
    tok = FakeTokenizer()

    def gone(event: tuple[str, object]) -> None:
        raise RuntimeError("Event loop is closed")

    req = Request(input_ids=[7], sampling=GREEDY, max_new_tokens=10, stop=(), sink=gone)
    row = Row(req, tok, {EOS})  # type: ignore[arg-type]
    push(row, tok, "a")
    assert req.cancelled.is_set()
    push(row, tok, "b")
    assert row.finish == "cancelled"


# -- a batch of rows ---------------------------------------------------------------------------


def test_streamer_skips_the_prompt_and_routes_each_row_independently():
    tok = FakeTokenizer()
    row_a, caller_a = make_row(tok, stop=("END",))
    row_b, caller_b = make_row(tok, max_new_tokens=3)
    rows = [row_a, row_b]
    streamer = BatchStreamer(rows)
    done = RowsDone(rows)

    def step(a: str, b: str) -> list[bool]:
        streamer.put(torch.tensor([tok.id(a), tok.id(b)]))
        ids = torch.zeros((2, 8), dtype=torch.long)
        result = done(ids, torch.zeros((2, 3)))
        assert result.dtype == torch.bool
        return result.tolist()

    # generate's first put is the (left-padded) prompt batch: no row takes it as output.
    streamer.put(torch.tensor([[EOS, IM_START, 7, 8], [IM_START, 7, 8, 9]]))
    assert row_a.ids == [] and row_b.ids == []
    assert caller_a.events == [] and caller_b.events == []

    assert step("Alpha", "x") == [False, False]
    assert step(" END", "y") == [True, False]  # row a hit its stop string, row b runs on
    assert step("Alpha again", "z") == [True, True]  # row b hit its own limit
    step("late", "late")  # padding after the end: ignored by both

    assert (row_a.finish, caller_a.text, len(row_a.ids)) == ("stop", "Alpha ", 2)
    assert (row_b.finish, caller_b.text, len(row_b.ids)) == ("length", "xyz", 3)


def test_eos_in_one_row_does_not_end_the_other():
    tok = FakeTokenizer()
    row_a, caller_a = make_row(tok)
    row_b, caller_b = make_row(tok)
    streamer = BatchStreamer([row_a, row_b])
    streamer.put(torch.tensor([[7], [8]]))
    streamer.put(torch.tensor([tok.id("a"), tok.id("b")]))
    streamer.put(torch.tensor([EOS, tok.id("c")]))
    streamer.put(torch.tensor([EOS, tok.id("d")]))  # generate pads a finished row

    assert (row_a.finish, caller_a.text) == ("stop", "a")
    assert (row_b.finish, caller_b.text) == (None, "bcd")


def test_rows_done_reports_a_cancelled_row_before_its_next_token():
    tok = FakeTokenizer()
    row_a, _ = make_row(tok)
    row_b, _ = make_row(tok)
    row_b.req.cancelled.set()
    assert RowsDone([row_a, row_b])(torch.zeros((2, 4), dtype=torch.long), torch.zeros((2, 3))).tolist() == [
        False,
        True,
    ]


def test_batch_key_groups_by_settings_but_isolates_seeded_sampling():
    def request(sampling: Sampling) -> Request:
        return Request(input_ids=[1], sampling=sampling, max_new_tokens=5, stop=(), sink=lambda e: None)

    assert request(GREEDY).batch_key() == request(GREEDY).batch_key()
    sampled = Sampling(temperature=0.8, top_p=0.9, repetition_penalty=1.1, seed=None)
    assert request(sampled).batch_key() == request(sampled).batch_key() != request(GREEDY).batch_key()
    # A seeded sampled request runs alone so its text does not depend on its batch mates.
    seeded = Sampling(temperature=0.8, top_p=0.9, repetition_penalty=1.1, seed=7)
    first, second = request(seeded), request(seeded)
    assert first.batch_key() != second.batch_key()
    assert first.batch_key() == first.batch_key()


def test_request_cancel_flag_is_per_request():
    first = Request(input_ids=[1], sampling=GREEDY, max_new_tokens=5, stop=(), sink=lambda e: None)
    second = Request(input_ids=[1], sampling=GREEDY, max_new_tokens=5, stop=(), sink=lambda e: None)
    first.cancelled.set()
    assert isinstance(second.cancelled, threading.Event) and not second.cancelled.is_set()


def test_a_model_that_fails_to_load_raises_in_the_caller_and_leaves_no_worker(tmp_path):
    before = {t.name for t in threading.enumerate()}
    with pytest.raises((OSError, ValueError)):
        Engine(tmp_path, "cpu", torch.float32)  # an empty folder: no tokenizer, no weights
    for thread in threading.enumerate():
        if thread.name not in before and thread.name.startswith("hf-engine:"):
            thread.join(timeout=5)
            assert not thread.is_alive()
