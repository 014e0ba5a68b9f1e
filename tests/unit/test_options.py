"""Decoding options and model specs: every bad value is a ValueError that names it."""

import math
from typing import Any

import pytest

from agents import ModelOptions, load_chat_model
from agents.models import factory
from agents.models.factory import EMBEDDED_SPEC, default_model_spec, parse_model_spec
from agents.models.hf import ChatLocalHF
from agents.models.hf import chat_model as chat_model_mod
from agents.models.options import MAX_NEW_TOKENS_LIMIT, split_options
from graphs.context import Context
from tools.settings_registry import BY_NAME


@pytest.fixture(autouse=True)
def _never_load_a_model(monkeypatch):
    """Constructing ChatLocalHF is lazy; anything that tries to load a model fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a unit test tried to load a model")

    monkeypatch.setattr(chat_model_mod, "get_engine", refuse)
    monkeypatch.setattr(chat_model_mod, "ensure_embedded_model", refuse)
    monkeypatch.delenv(factory.MODEL_ENV, raising=False)


# -- bad values ------------------------------------------------------------------------------

BAD_VALUES = [
    ("temperature", -0.1, "temperature=-0.1"),
    ("temperature", -1, "temperature=-1"),
    ("temperature", 2.5, "temperature=2.5"),
    ("temperature", math.nan, "temperature=nan"),
    ("temperature", math.inf, "temperature=inf"),
    ("temperature", True, "temperature=True"),
    ("temperature", "0.5", "temperature='0.5'"),
    ("max_new_tokens", 0, "max_new_tokens=0"),
    ("max_new_tokens", -5, "max_new_tokens=-5"),
    ("max_new_tokens", MAX_NEW_TOKENS_LIMIT + 1, f"max_new_tokens={MAX_NEW_TOKENS_LIMIT + 1}"),
    ("max_new_tokens", True, "max_new_tokens=True"),
    ("max_new_tokens", 16.0, "max_new_tokens=16.0"),
    ("max_new_tokens", "16", "max_new_tokens='16'"),
    ("top_p", 0, "top_p=0"),
    ("top_p", 0.0, "top_p=0.0"),
    ("top_p", 1.5, "top_p=1.5"),
    ("top_p", -0.5, "top_p=-0.5"),
    ("repetition_penalty", 0, "repetition_penalty=0"),
    ("repetition_penalty", 11.0, "repetition_penalty=11.0"),
    ("seed", -1, "seed=-1"),
    ("seed", 1.5, "seed=1.5"),
    ("seed", True, "seed=True"),
    ("seed", 2**63, f"seed={2**63}"),
    ("num_ctx", 8, "num_ctx=8"),
    ("num_ctx", 2048.0, "num_ctx=2048.0"),
    ("num_ctx", False, "num_ctx=False"),
    ("stop", ("END", ""), "stop=('END', '')"),
    ("stop", [3], "stop=[3]"),
]


@pytest.mark.parametrize(("name", "value", "shown"), BAD_VALUES)
def test_bad_value_is_named_by_model_options(name, value, shown):
    with pytest.raises(ValueError, match="invalid model option") as err:
        ModelOptions(**{name: value})
    assert shown in str(err.value)


@pytest.mark.parametrize(("name", "value", "shown"), BAD_VALUES)
def test_bad_value_is_named_by_the_factory(name, value, shown):
    with pytest.raises(ValueError, match="invalid model option") as err:
        load_chat_model("hf/embedded", **{name: value})
    assert shown in str(err.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", -0.1),
        ("temperature", True),
        ("max_new_tokens", 0),
        ("max_new_tokens", True),
        ("max_new_tokens", 16.0),
        ("top_p", 0),
        ("seed", 1.5),
    ],
)
def test_bad_value_is_named_by_the_chat_model(name, value):
    # Checked before pydantic's lax coercion (True -> 1, 16.0 -> 16); pydantic's
    # ValidationError is a ValueError and the message still names the option.
    with pytest.raises(ValueError, match=f"invalid model option {name}={value!r}"):
        ChatLocalHF(model="embedded", **{name: value})


@pytest.mark.parametrize(("name", "value"), [("temperature", -0.1), ("max_new_tokens", 0), ("top_p", 1.5)])
def test_bad_call_time_override_is_named(name, value):
    model = ChatLocalHF(model="embedded")
    with pytest.raises(ValueError, match=f"invalid model option {name}={value!r}"):
        model.options(**{name: value})


def test_boundary_values_are_accepted():
    opts = ModelOptions(temperature=0, top_p=1, max_new_tokens=1, seed=0, num_ctx=16, repetition_penalty=10.0)
    assert (opts.temperature, opts.top_p, opts.max_new_tokens, opts.seed) == (0, 1, 1, 0)
    assert ModelOptions(temperature=2.0, max_new_tokens=MAX_NEW_TOKENS_LIMIT).max_new_tokens == (
        MAX_NEW_TOKENS_LIMIT
    )


# -- unknown names and specs ---------------------------------------------------------------------


def test_unknown_option_name_is_named():
    with pytest.raises(ValueError, match=r"unknown model option.*max_tokens"):
        load_chat_model("hf/embedded", max_tokens=100)
    with pytest.raises(ValueError, match=r"unknown model option.*temprature"):
        ModelOptions.from_mapping({"temprature": 0.5})
    with pytest.raises(ValueError, match=r"unknown model option.*host"):
        load_chat_model("hf/embedded", host="127.0.0.1:11434")  # an ollama-only option


def test_unknown_option_error_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        split_options({"bogus": 1, "temperature": 0.1}, extra=("device",))
    message = str(err.value)
    assert "bogus" in message
    assert all(name in message for name in (*ModelOptions.names(), "device"))


@pytest.mark.parametrize("spec", ["foo/bar", "embedded", "HF/embedded", "/embedded"])
def test_unknown_provider_is_named(spec):
    with pytest.raises(ValueError, match="unknown model spec") as err:
        load_chat_model(spec)
    assert repr(spec) in str(err.value)


@pytest.mark.parametrize("spec", ["hf/", "ollama/", "hf/   "])
def test_empty_model_name_is_named(spec):
    with pytest.raises(ValueError, match="names no model") as err:
        load_chat_model(spec)
    assert repr(spec.strip()) in str(err.value)


def test_spec_parsing_and_default(monkeypatch):
    assert parse_model_spec(" hf/HuggingFaceTB/SmolLM2-360M-Instruct ") == (
        "hf",
        "HuggingFaceTB/SmolLM2-360M-Instruct",
    )
    assert default_model_spec() == EMBEDDED_SPEC
    assert parse_model_spec(None) == ("hf", "embedded")
    monkeypatch.setenv(factory.MODEL_ENV, "foo/bar")
    with pytest.raises(ValueError, match="'foo/bar'"):
        load_chat_model()


# -- defaults and normalisation ------------------------------------------------------------------


def test_defaults_are_bounded():
    opts = ModelOptions()
    assert isinstance(opts.max_new_tokens, int)
    assert 1 <= opts.max_new_tokens <= MAX_NEW_TOKENS_LIMIT
    assert opts.temperature == 0.0  # greedy: reproducible unless asked otherwise
    assert opts.stop == ()
    model = ChatLocalHF()
    assert model.max_new_tokens == opts.max_new_tokens
    assert model.options() == opts


#: The options declared in the settings registry (``stop`` is not a setting).
REGISTERED = ("temperature", "top_p", "seed", "max_new_tokens", "repetition_penalty", "num_ctx")


def test_defaults_are_the_settings_registrys():
    opts = ModelOptions()
    assert {name: getattr(opts, name) for name in REGISTERED} == {
        name: BY_NAME[name].default for name in REGISTERED
    }


@pytest.mark.parametrize("name", REGISTERED)
def test_bounds_are_the_settings_registrys_and_a_run_context_rejects_the_same_values(name):
    setting = BY_NAME[name]
    assert setting.low is not None and setting.high is not None
    step = 1e-6 if setting.kind == "float" else 1
    inside_low = setting.low + step if setting.low_open else setting.low
    outside = [setting.high + step, setting.low if setting.low_open else setting.low - step]
    for value in (setting.high, inside_low):
        assert getattr(ModelOptions(**{name: value}), name) == value
    for value in outside:
        with pytest.raises(ValueError, match=f"invalid model option {name}="):
            ModelOptions(**{name: value})
        with pytest.raises(ValueError, match=f"^{name} must be"):
            Context(**{name: value})


def test_stop_string_becomes_a_one_tuple():
    assert ModelOptions(stop="END").stop == ("END",)  # type: ignore[arg-type]
    assert ModelOptions(stop=["A", "B"]).stop == ("A", "B")  # type: ignore[arg-type]
    assert ModelOptions.from_mapping({"stop": "END"}).stop == ("END",)
    assert ModelOptions(stop=("END",)).to_dict()["stop"] == ["END"]


def test_factory_builds_a_lazy_chat_model_with_the_options():
    model = load_chat_model(
        "hf/embedded",
        temperature=0.7,
        top_p=0.9,
        seed=3,
        max_new_tokens=64,
        repetition_penalty=1.2,
        stop="END",
        num_ctx=1024,
        device="cpu",
        dtype="float32",
    )
    assert isinstance(model, ChatLocalHF)
    assert model._engine is None  # nothing loaded yet
    assert model.model == "embedded"
    assert (model.temperature, model.top_p, model.seed) == (0.7, 0.9, 3)
    assert (model.max_new_tokens, model.repetition_penalty, model.num_ctx) == (64, 1.2, 1024)
    assert model.stop == ["END"]
    assert (model.device, model.dtype) == ("cpu", "float32")


def test_none_means_default_in_the_factory():
    model = load_chat_model("hf/embedded", temperature=None, max_new_tokens=None)
    assert isinstance(model, ChatLocalHF)
    assert (model.temperature, model.max_new_tokens) == (0.0, ModelOptions().max_new_tokens)


def test_call_time_overrides_merge_with_instance_options():
    model = ChatLocalHF(model="embedded", temperature=0.5, stop=["END"], max_new_tokens=32)
    opts = model.options(max_new_tokens=8, temperature=None)
    assert (opts.temperature, opts.max_new_tokens, opts.stop) == (0.5, 8, ("END",))
