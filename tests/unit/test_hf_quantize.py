"""The ``quantize`` option of the hf/ adapter (quantize.py), on a tiny random Llama saved to a folder.

The folder is loaded by a real `Engine` (worker thread, transformers load,
int8 layers), so these tests cover what a user gets: the option flows from
`load_chat_model` or ``$COUNCIL_HF_QUANTIZE`` to the engine key, the int8 model
stays close to the float one, and its rows still stream and stop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from torch import nn
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from agents import load_chat_model
from agents.models.hf import engine as engine_mod
from agents.models.hf.engine import Engine, Request, Sampling
from agents.models.hf.quantize import AUTO_ON_CPU, Int8Linear, choose_quantize, quantize_model
from tests.hf_engine_helpers import Sink, tiny_llama

GREEDY = Sampling(temperature=0.0, top_p=1.0, repetition_penalty=1.0, seed=None)
WORDS = 61


@pytest.fixture(autouse=True)
def own_model_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Engines loaded here remember their decode verdicts in a temp cache, not the user's."""
    monkeypatch.setenv("COUNCIL_MODEL_CACHE", str(tmp_path / "models"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with tied embeddings (as SmolLM2) and a word-level tokenizer with a chat template."""
    path = tmp_path_factory.mktemp("tiny-llama")
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{f"w{i}": i + 3 for i in range(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece()  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    tokenizer.save_pretrained(path)
    tiny_llama(vocab_size=len(vocab), hidden_size=64, tie_word_embeddings=True).save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("COUNCIL_HF_QUANTIZE", raising=False)
    engine_mod.unload_engines()
    yield
    engine_mod.unload_engines()


def _submit(engine: Engine, ids: list[int], max_new: int, stop: tuple[str, ...] = ()) -> Sink:
    sink = Sink()
    engine.submit(Request(input_ids=ids, sampling=GREEDY, max_new_tokens=max_new, stop=stop, sink=sink))
    return sink


# -- the option -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "value", "expected"),
    [
        ("cpu", None, AUTO_ON_CPU),
        ("cpu", "auto", AUTO_ON_CPU),
        ("cuda", "auto", "none"),
        ("mps", None, "none"),
        ("cpu", "none", "none"),
        ("cpu", " INT8 ", "int8"),
    ],
)
def test_choose_quantize(device: str, value: str | None, expected: str) -> None:
    assert choose_quantize(device, value) == expected


def test_the_environment_sets_the_default_and_the_option_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_HF_QUANTIZE", "none")
    assert choose_quantize("cpu") == "none"
    assert choose_quantize("cpu", "int8") == "int8"
    monkeypatch.setenv("COUNCIL_HF_QUANTIZE", "int8")
    assert choose_quantize("cpu") == "int8"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"quantize": "int4"}, "invalid model option quantize='int4': use one of auto, none, int8"),
        ({"quantize": 8}, "invalid model option quantize=8: must be a string or None"),
    ],
)
def test_a_bad_option_is_one_value_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        load_chat_model("hf/embedded", device="cpu", **options)
    assert str(info.value) == message


def test_a_bad_environment_value_is_one_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_HF_QUANTIZE", "fp4")
    with pytest.raises(ValueError) as info:
        load_chat_model("hf/embedded", device="cpu")
    assert str(info.value) == "invalid value for $COUNCIL_HF_QUANTIZE: 'fp4' (expected auto, none or int8)"


def test_the_option_and_the_environment_reach_the_engine_key(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit: Any = load_chat_model(f"hf/{folder}", device="cpu", quantize="int8")
    assert explicit.engine().key[-1] == "int8" and explicit.engine().quantize == "int8"
    monkeypatch.setenv("COUNCIL_HF_QUANTIZE", "none")
    from_env: Any = load_chat_model(f"hf/{folder}", device="cpu")
    assert from_env.engine().key[-1] == "none"
    # Different quantization never shares an engine; the same one does.
    assert from_env.engine() is not explicit.engine()
    again: Any = load_chat_model(f"hf/{folder}", device="cpu", quantize="int8")
    assert again.engine() is explicit.engine()


def test_int8_is_refused_off_the_cpu() -> None:
    with pytest.raises(ValueError) as info:
        choose_quantize("cuda:1", "int8")
    assert (
        str(info.value)
        == "invalid model option quantize='int8': int8 runs on the CPU only, not device=cuda:1"
    )


# -- what int8 does to the model ----------------------------------------------------


@pytest.mark.parametrize("kernel_positions", [1 << 20, 0])  # int8 kernel; dequantized
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bias", [False, True])
def test_int8_linear_matches_the_float_layer(
    dtype: torch.dtype, bias: bool, kernel_positions: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Int8Linear, "kernel_positions", kernel_positions)
    torch.manual_seed(1)
    linear = nn.Linear(48, 40, bias=bias).to(dtype)
    with torch.no_grad():
        linear.weight[3] = 0  # an all-zero row must not divide by zero
    layer = Int8Linear(linear)
    assert layer.qweight.dtype == torch.int8 and layer.qweight.shape == (40, 48)
    for shape in [(1, 48), (2, 48), (3, 5, 48)]:
        x = torch.randn(shape, dtype=dtype)
        with torch.inference_mode():
            want, got = linear(x), layer(x)
        assert got.shape == want.shape and got.dtype == dtype
        assert torch.all(got[..., 3] == (linear.bias[3] if bias else 0))
        assert _cosine(want.float(), got.float()) > 0.999


def test_int8_converts_every_linear_layer_and_stays_close_to_float(folder: Path) -> None:
    float_model = LlamaForCausalLM.from_pretrained(folder).eval()
    int8_model = LlamaForCausalLM.from_pretrained(folder).eval()
    linears = sum(isinstance(m, nn.Linear) for m in int8_model.modules())
    assert quantize_model(int8_model, "int8") == linears == 2 * 7 + 1  # q k v o gate up down + head
    assert not any(isinstance(m, nn.Linear) for m in int8_model.modules())
    assert isinstance(int8_model.lm_head, Int8Linear)
    # The tied head got its own int8 copy; the embedding keeps its float weight for lookups.
    assert type(int8_model.model.embed_tokens.weight) is nn.Parameter
    assert torch.equal(int8_model.model.embed_tokens.weight, float_model.model.embed_tokens.weight)
    ids = torch.tensor([[1, *range(3, 40)]])
    with torch.inference_mode():
        want, got = float_model(ids).logits, int8_model(ids).logits
    cosine = _cosine(want, got)
    assert cosine > 0.999, cosine
    assert quantize_model(float_model, "none") == 0
    assert type(float_model.lm_head) is nn.Linear


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two tensors flattened."""
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def test_an_int8_engine_streams_rows_that_stop_on_their_own(folder: Path) -> None:
    engine = engine_mod.get_engine(folder, "cpu", torch.float32, "int8")
    assert isinstance(engine.model.lm_head, Int8Linear)  # the quantized model serves
    prompt = [1, *range(3, 30)]
    full = _submit(engine, prompt, 6).result()
    assert (full.finish_reason, full.completion_tokens) == ("length", 6)
    words = full.text.split()
    assert len(words) == 6  # one word per token

    # Two requests submitted together: one stops at its token limit, one on a stop string.
    short = _submit(engine, prompt, 2)
    stopped = _submit(engine, prompt, 6, stop=(words[2],))
    assert (short.result().finish_reason, short.result().completion_tokens) == ("length", 2)
    assert stopped.result().finish_reason == "stop"
    assert stopped.result().text == full.text[: full.text.index(words[2])]
    assert "".join(short.tokens()) == short.result().text and short.tokens()
    assert "".join(stopped.tokens()) == stopped.result().text


def test_the_int8_path_follows_positions_not_rows() -> None:
    """A row's numbers must not depend on how many requests share its batch.

    The path (kernel or dequantized) was once chosen by row count: more than 32 rows of
    decoding, or a shared prefix's short tails, took another path than the same row alone.
    """
    torch.manual_seed(2)
    layer = Int8Linear(nn.Linear(48, 40))
    step = torch.randn(40, 1, 48)  # a decoding step of 40 rows: one position each
    prompt = torch.randn(20, 5, 48)  # a prompt pass of 20 rows: five positions each
    with torch.inference_mode():
        assert torch.equal(layer(step), torch.cat([layer(step[i : i + 1]) for i in range(40)]))
        assert torch.equal(layer(prompt), torch.cat([layer(prompt[i : i + 1]) for i in range(20)]))
        # The two paths round differently: which one a row takes is what the rule decides.
        assert not torch.equal(layer(prompt[:1, :1]), layer(prompt[:1])[:, :1])
