"""Decoding options shared by every backend, validated in one place.

Both the `hf/` and the `ollama/` adapters take the same option names so a
persona can move between backends without rewriting its settings. Defaults are
bounded on purpose: generation always stops (the seed article's readers met
models that "never stop"). Each option's default and bounds come from its
entry in `tools.settings_registry`, the one place every ``COUNCIL_*`` setting
is declared; this module adds the error messages and the integer checks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tools.settings_registry import BY_NAME


def _default(name: str) -> Any:
    return BY_NAME[name].default


def _bounds(name: str) -> tuple[float, float]:
    setting = BY_NAME[name]
    # Every decoding option is bounded in the registry; a missing bound is a registry bug.
    assert setting.low is not None and setting.high is not None, (
        f"{name} has no bounds in the settings registry"
    )
    return setting.low, setting.high


#: The most tokens per reply the registry allows.
MAX_NEW_TOKENS_LIMIT = int(_bounds("max_new_tokens")[1])


@dataclass(frozen=True)
class ModelOptions:
    """Decoding options understood by every chat-model backend.

    Attributes:
        temperature: Sampling temperature; 0 means greedy decoding.
        top_p: Nucleus-sampling mass in (0, 1].
        seed: Random seed; with temperature > 0 the same seed gives the same text.
        max_new_tokens: Most tokens generated per reply (Ollama: `num_predict`).
        repetition_penalty: >1 discourages repeats (Ollama: `repeat_penalty`).
        stop: Strings that end generation; they are not included in the output.
        num_ctx: Context window in tokens; None uses the model's own.
    """

    temperature: float = _default("temperature")
    top_p: float = _default("top_p")
    seed: int | None = _default("seed")
    max_new_tokens: int = _default("max_new_tokens")
    repetition_penalty: float = _default("repetition_penalty")
    stop: tuple[str, ...] = field(default_factory=tuple)
    num_ctx: int | None = _default("num_ctx")

    def __post_init__(self) -> None:
        _check_number("temperature", self.temperature)
        _check_number("top_p", self.top_p)
        _check_number("repetition_penalty", self.repetition_penalty)
        _check_int("max_new_tokens", self.max_new_tokens)
        if self.seed is not None:
            _check_int("seed", self.seed)
        if self.num_ctx is not None:
            _check_int("num_ctx", self.num_ctx)
        stop = self.stop
        if isinstance(stop, str):
            stop = (stop,)
        stop = tuple(stop)
        if not all(isinstance(s, str) and s for s in stop):
            raise ValueError(f"invalid model option stop={self.stop!r}: must be non-empty strings")
        object.__setattr__(self, "stop", stop)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Names of all options, in declaration order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ModelOptions:
        """Build options from a mapping, ignoring `None` values (meaning "default").

        Raises:
            ValueError: on an unknown name or a bad value, naming it.
        """
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise ValueError(f"unknown model option(s) {', '.join(unknown)}; known: {', '.join(cls.names())}")
        return cls(**{k: v for k, v in values.items() if v is not None or k == "seed"})

    def to_dict(self) -> dict[str, Any]:
        """The options as a plain dict (stop as a list)."""
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


def split_options(values: Mapping[str, Any], extra: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword options into decoding options and backend-specific ones.

    Args:
        values: Everything the caller passed.
        extra: Names the backend accepts besides the decoding options.

    Returns:
        (decoding options, backend options).

    Raises:
        ValueError: when a name is neither.
    """
    extra = set(extra)
    decoding = {k: v for k, v in values.items() if k in ModelOptions.names()}
    backend = {k: v for k, v in values.items() if k in extra}
    unknown = sorted(set(values) - set(decoding) - set(backend))
    if unknown:
        known = sorted(set(ModelOptions.names()) | extra)
        raise ValueError(f"unknown model option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return decoding, backend


def _check_number(name: str, value: Any) -> None:
    low, high = _bounds(name)
    low_open = BY_NAME[name].low_open
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low:g} and <= {high:g}"
        raise ValueError(f"invalid model option {name}={value!r}: must be a number {bound}")


def _check_int(name: str, value: Any) -> None:
    # int(): the registry's bounds are exact ints here (2**63 - 1 would not survive a float).
    low, high = (int(b) for b in _bounds(name))
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"invalid model option {name}={value!r}: must be an integer from {low} to {high}")
