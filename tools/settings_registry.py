"""Every ``COUNCIL_*`` setting, declared once: name, type, default, variable, description, bounds.

This module sits at the bottom of the package graph (standard library only) so
that ``tools/``, ``agents/`` and ``graphs/`` can all derive their objects from it:
the graph's `Context` fields, `RetrievalSettings` defaults, the CLI flags and
``docs/settings.md`` (``python -m tools.settings_registry --markdown``).

Settings with ``scope="run"`` are per-run `Context` fields; ``scope="process"``
ones are read once by the operator's process (server, engine pool, auth).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

_TRUE = frozenset({"1", "on", "true", "yes", "y", "是", "对"})
_FALSE = frozenset({"0", "off", "false", "no", "n", "否", "不是"})


def parse_bool(raw: str | bool, name: str) -> bool:
    """Read an on/off switch: on/off, true/false, yes/no, y/n, 1/0 (any case), 是/否, or a bool.

    Raises:
        ValueError: for anything else, naming the setting.
    """
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"invalid value for {name}: {raw!r} (expected on or off)")


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
}
_SIZE_EXPECTED = "a size in bytes such as 2000000 or 2M"


def parse_size(raw: Any, name: str) -> int:
    """A positive size in bytes: ``2097152``, ``2M``, ``500 KB`` (units are powers of 1024).

    Raises:
        ValueError: for anything else, naming the setting.
    """
    bad = f"invalid value for {name}: {raw!r} (expected {_SIZE_EXPECTED})"
    if isinstance(raw, bool):
        raise ValueError(bad)
    if isinstance(raw, int):
        size = raw
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(raw))
        unit = match.group(2).lower() if match else ""
        if not match or unit not in _SIZE_UNITS:
            raise ValueError(bad)
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size < 1:
        raise ValueError(bad)
    return size


def _optional_int(raw: str) -> int | None:
    return None if raw.strip().lower() in ("", "none") else int(raw)


Kind = Literal["str", "int", "float", "bool", "optional_int", "size"]
_CASTS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "optional_int": _optional_int,
    "size": lambda raw: parse_size(raw, "size"),  # its message is replaced by the setting's own
}


@dataclass(frozen=True)
class Setting:
    """One setting.

    Attributes:
        name: Field name (the `Context` field for run settings).
        env: The environment variable.
        kind: Value type, which picks the parser.
        default: The one default (None where it is computed at run time, see ``default_doc``).
        description: One sentence, shown in Studio, ``--help`` and the docs table.
        scope: ``run`` (a `Context` field) or ``process`` (read by the operator's process).
        flags: CLI flags setting it (run settings only); empty: no flag.
        choices: Allowed values, if a closed set.
        low: Smallest allowed number, if bounded.
        high: Largest allowed number, if bounded.
        low_open: True when `low` itself is not allowed (a value must be above it).
        default_doc: How the docs show a computed default.
        metavar: The CLI's name for the value (str settings).
        expected: What a valid value looks like, for the error message (``a positive integer``).
    """

    name: str
    env: str
    kind: Kind
    default: Any
    description: str
    scope: Literal["run", "process"] = "run"
    flags: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    default_doc: str = ""
    metavar: str | None = None
    expected: str = ""

    @property
    def group(self) -> str:
        """The ``--help`` section the setting's flag is listed in."""
        if self.name == "review":
            return "review"
        return _MODELS if self.name in _MODEL_NAMES else "council"

    def parse(self, raw: str) -> Any:
        """`raw` (an environment value) as this setting's type, or ValueError naming the variable.

        A process setting's value is also held to its choices and [low, high] here: it has no `Context`
        whose `check` would do it. A run setting's bounds are checked on its `Context`.
        """
        if self.kind == "bool":
            return parse_bool(raw, f"${self.env}")
        hint = f" (expected {self.expected})" if self.expected else ""
        bad = ValueError(f"invalid value for ${self.env}: {raw!r}{hint}")
        try:
            value = _CASTS[self.kind](raw.strip())
        except (ValueError, KeyError):
            raise bad from None
        if self.scope == "process" and not self._allowed(value):
            raise bad
        return value

    def _allowed(self, value: Any) -> bool:
        if self.choices and value not in self.choices:
            return False
        if not isinstance(value, (int, float)):
            return True
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def from_env(self, environ: Mapping[str, str] | None = None) -> Any:
        """The variable's value parsed, or the default when it is unset or blank."""
        raw = (os.environ if environ is None else environ).get(self.env, "").strip()
        return self.parse(raw) if raw else self.default

    def check(self, value: Any) -> None:
        """Reject a value outside `choices` or [low, high], naming the setting."""
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if self.low is not None and self.high is not None:
            if self.low_open and not self.low < value <= self.high:
                raise ValueError(
                    f"{self.name} must be above {self.low:g} and at most {self.high:g}, not {value}"
                )
            if not self.low <= value <= self.high:
                raise ValueError(f"{self.name} must be between {self.low:g} and {self.high:g}, not {value}")
        if self.low == 0 and self.high is None and value <= 0:
            raise ValueError(f"{self.name} must be positive, not {value}")

    def context_description(self) -> str:
        """The description with its variable, as Studio shows it."""
        return f"{self.description} Env: {self.env}."


_MODELS = "models and decoding"
_MODEL_NAMES = frozenset(
    {"model", "coordinator_model", "scientist_model", "legal_expert_model", "temperature", "top_p", "seed"}
    | {"max_new_tokens", "repetition_penalty", "num_ctx"}
)
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "model",
        "COUNCIL_MODEL",
        "str",
        None,
        "Model spec: 'hf/<hub id or local path>', 'ollama/<name>' or 'openai/<model id>'. "
        "'hf/embedded' is the bundled SmolLM2-135M-Instruct.",
        flags=("--model",),
        metavar="SPEC",
        default_doc="hf/embedded",
    ),
    Setting(
        "coordinator_model",
        "COUNCIL_COORDINATOR_MODEL",
        "str",
        "",
        "The coordinator's own model spec; empty: `model`.",
        flags=("--coordinator-model",),
        metavar="SPEC",
    ),
    Setting(
        "scientist_model",
        "COUNCIL_SCIENTIST_MODEL",
        "str",
        "",
        "The scientist's own model spec; empty: `model`.",
        flags=("--scientist-model",),
        metavar="SPEC",
    ),
    Setting(
        "legal_expert_model",
        "COUNCIL_LEGAL_EXPERT_MODEL",
        "str",
        "",
        "The legal expert's own model spec; empty: `model`.",
        flags=("--legal-model",),
        metavar="SPEC",
    ),
    Setting(
        "temperature",
        "COUNCIL_TEMPERATURE",
        "float",
        0.0,
        "Sampling temperature; 0 is greedy.",
        flags=("--temperature",),
        low=0.0,
        high=2.0,
    ),
    Setting(
        "top_p",
        "COUNCIL_TOP_P",
        "float",
        1.0,
        "Nucleus sampling mass in (0, 1].",
        flags=("--top-p",),
        low=0.0,
        high=1.0,
        low_open=True,
    ),
    Setting(
        "seed",
        "COUNCIL_SEED",
        "optional_int",
        None,
        "Random seed for reproducible sampling.",
        flags=("--seed",),
        low=0,
        high=2**63 - 1,
    ),
    Setting(
        "max_new_tokens",
        "COUNCIL_MAX_NEW_TOKENS",
        "int",
        512,
        "Most tokens per reply (Ollama: num_predict).",
        flags=("--max-new-tokens",),
        low=1,
        # Keeps a typo like 1e9 from hanging a run.
        high=32_768,
    ),
    Setting(
        "repetition_penalty",
        "COUNCIL_REPETITION_PENALTY",
        "float",
        1.1,
        ">1 discourages repeats (Ollama: repeat_penalty).",
        flags=("--repetition-penalty",),
        low=0.0,
        high=10.0,
        low_open=True,
    ),
    Setting(
        "stop_repeats",
        "COUNCIL_STOP_REPEATS",
        "bool",
        True,
        "End an expert's or the coordinator's prose at the first line it repeats (five words or more, "
        "compared as the quality gate compares lines, which drops repeats anyway): a small model that "
        "loops stops costing time.",
        flags=("--stop-repeats",),
    ),
    Setting(
        "num_ctx",
        "COUNCIL_NUM_CTX",
        "optional_int",
        None,
        "Context window in tokens; empty: the model's own.",
        flags=("--num-ctx",),
        low=16,
        high=10_000_000,
    ),
    Setting(
        "history_share",
        "COUNCIL_HISTORY_SHARE",
        "float",
        0.1,
        "Share of the context window that earlier turns may take in a prompt, as what they decided "
        "(facts, requirement ids, requests), never as earlier reports.",
        flags=("--history-share",),
        low=0.01,
        high=0.5,
        metavar="SHARE",
    ),
    Setting(
        "mode",
        "COUNCIL_MODE",
        "str",
        "auto",
        "'agentic': the coordinator calls experts and search as tools; 'workflow': every expert gets the "
        "task; 'auto': agentic only on models that can call tools.",
        flags=("--mode",),
        choices=("auto", "agentic", "workflow"),
    ),
    Setting(
        "max_rounds",
        "COUNCIL_MAX_ROUNDS",
        "int",
        3,
        "Most rounds of coordinator tool calls per turn.",
        flags=("--rounds",),
        low=1,
        high=20,
    ),
    Setting(
        "index_dir",
        "COUNCIL_INDEX_DIR",
        "str",
        "",
        "Where the retrieval index lives; empty: the user data dir.",
        flags=("--index",),
        metavar="DIR",
    ),
    Setting(
        "docs_dir",
        "COUNCIL_DOCS_DIR",
        "str",
        "",
        "A folder of your own .md/.txt/.pdf/.html files (or a collection's name) to index beside the "
        "bundled corpus; empty: none.",
        flags=("--docs",),
        metavar="DIR",
    ),
    # 6, the graph's long-standing value: a report cites several clauses per turn; the
    # retriever used standalone (bench, tools) now shares it instead of its own 3.
    Setting(
        "retrieval_k",
        "COUNCIL_RETRIEVAL_K",
        "int",
        6,
        "Passages retrieved per turn.",
        flags=("-k",),
        low=1,
        high=50,
    ),
    Setting(
        "web_search",
        "COUNCIL_WEB_SEARCH",
        "bool",
        True,
        "Search the web with Tavily too (only when TAVILY_API_KEY is set).",
        flags=("--web",),
    ),
    Setting(
        "experts_url",
        "COUNCIL_EXPERTS_URL",
        "str",
        "",
        "URL of a LangGraph server hosting the `scientist` and `legal_expert` graphs; empty: experts run "
        "in-process.",
        flags=("--experts-url",),
        metavar="URL",
    ),
    Setting(
        "openai_base_url",
        "COUNCIL_OPENAI_BASE_URL",
        "str",
        "",
        "API root of the OpenAI-compatible server (vLLM, TGI, llama-server, LM Studio) that "
        "'openai/<model id>' specs use, e.g. http://gpu-1:8000/v1; empty: http://127.0.0.1:8000/v1.",
        flags=("--openai-base-url",),
        metavar="URL",
    ),
    Setting(
        "review",
        "COUNCIL_REVIEW",
        "bool",
        False,
        "Pause each turn after the applicability facts for a person to approve or correct them (and "
        "leave a note for the experts) before the council drafts; needs a checkpointer.",
        flags=("--review",),
    ),
    Setting(
        "experts_timeout_s",
        "COUNCIL_EXPERTS_TIMEOUT_S",
        "float",
        600.0,
        "Seconds to wait for a remote expert.",
        low=0,
    ),
    # Process settings: read once by the operator's process, not per run.
    Setting(
        "web_timeout_s",
        "COUNCIL_WEB_TIMEOUT",
        "float",
        10.0,
        "Seconds before a web search is abandoned for local results (0-300).",
        scope="process",
        expected="a number of seconds",
    ),
    Setting(
        "chroma_url",
        "COUNCIL_CHROMA_URL",
        "str",
        None,
        "http://host:port of a Chroma server holding the vectors; empty: an embedded store.",
        scope="process",
    ),
    Setting(
        "max_doc_bytes",
        "COUNCIL_MAX_DOC_BYTES",
        "size",
        2 << 20,
        "Largest user document indexed, in bytes or with a unit (500K, 2M); larger ones are skipped.",
        scope="process",
        default_doc="2M",
        expected=_SIZE_EXPECTED,
    ),
    Setting(
        "doc_collections",
        "COUNCIL_DOC_COLLECTIONS",
        "str",
        "",
        "Named document folders, 'policies=/srv/policies,hr=/srv/hr'; a docs_dir may be a name.",
        scope="process",
    ),
    Setting(
        "db",
        "COUNCIL_DB",
        "str",
        "",
        "Thread database: a SQLite file or a postgresql:// URL; empty: threads.sqlite in the user data dir.",
        scope="process",
    ),
    Setting(
        "max_engines",
        "COUNCIL_MAX_ENGINES",
        "int",
        2,
        "Most hf/ model engines kept loaded at once.",
        scope="process",
        low=1,
        expected="a positive integer",
    ),
    Setting(
        "max_retrievers",
        "COUNCIL_MAX_RETRIEVERS",
        "int",
        4,
        "Most retrievers (settings, corpus) kept open at once.",
        scope="process",
        low=1,
        expected="a positive integer",
    ),
    Setting(
        "max_batch",
        "COUNCIL_MAX_BATCH",
        "int",
        8,
        "Most requests an hf/ engine decodes in one batch.",
        scope="process",
        low=1,
        expected="a positive integer",
    ),
    Setting(
        "batch_window_ms",
        "COUNCIL_BATCH_WINDOW_MS",
        "float",
        15.0,
        "Milliseconds an hf/ engine waits to gather a batch.",
        scope="process",
        expected="a number of milliseconds",
    ),
    Setting(
        "hf_fast_decode",
        "COUNCIL_HF_FAST_DECODE",
        "bool",
        True,
        "The hf/ adapter's fast decoding path; off rules it out when debugging a model.",
        scope="process",
    ),
    Setting(
        "hf_decode",
        "COUNCIL_HF_DECODE",
        "str",
        "auto",
        "How hf/ engines decode: dynamic (growing cache, the CPU path), static (preallocated cache, "
        "compiled on CUDA) or auto (time both when the model loads and keep the faster).",
        scope="process",
        choices=("auto", "dynamic", "static"),
        expected="auto, dynamic or static",
    ),
    Setting(
        "hf_quantize",
        "COUNCIL_HF_QUANTIZE",
        "str",
        "auto",
        "Weights of hf/ models when the quantize option is not given: int8 (weight-only, "
        "torch's int8 kernel), none, or auto (int8 on CPU, none elsewhere).",
        scope="process",
        choices=("auto", "none", "int8"),
        expected="auto, none or int8",
    ),
    Setting(
        "model_cache",
        "COUNCIL_MODEL_CACHE",
        "str",
        "",
        "Where converted models live; empty: the user cache dir.",
        scope="process",
    ),
    Setting(
        "tavily_base_url",
        "COUNCIL_TAVILY_BASE_URL",
        "str",
        "https://api.tavily.com",
        "API root of the Tavily client; set it to reach Tavily through a proxy or a test server.",
        scope="process",
    ),
    Setting(
        "api_keys",
        "COUNCIL_API_KEYS",
        "str",
        "",
        "API keys of the server, one per user: 'alice=key1,bob=key2'.",
        scope="process",
    ),
    Setting(
        "api_keys_file",
        "COUNCIL_API_KEYS_FILE",
        "str",
        "",
        "A file of API keys, one 'user=key' a line, instead of COUNCIL_API_KEYS.",
        scope="process",
    ),
    Setting(
        "allowed_models",
        "COUNCIL_ALLOWED_MODELS",
        "str",
        "",
        "Model specs a server run may name (comma-separated), on top of the operator's own.",
        scope="process",
    ),
    Setting(
        "allowed_experts_urls",
        "COUNCIL_ALLOWED_EXPERTS_URLS",
        "str",
        "",
        "Experts servers a server run may name (comma-separated), on top of COUNCIL_EXPERTS_URL.",
        scope="process",
    ),
    Setting(
        "allowed_openai_base_urls",
        "COUNCIL_ALLOWED_OPENAI_BASE_URLS",
        "str",
        "",
        "OpenAI-compatible servers a server run may name as openai_base_url (comma-separated), on top of "
        "COUNCIL_OPENAI_BASE_URL.",
        scope="process",
    ),
    Setting(
        "openai_api_key",
        "COUNCIL_OPENAI_API_KEY",
        "str",
        "",
        "Bearer key for the OpenAI-compatible server (else OPENAI_API_KEY; a local server needs none); "
        "read from the environment only, never from a run's context, never printed.",
        scope="process",
    ),
)

#: Settings by name.
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
#: The per-run settings, in `Context` field order.
RUN_SETTINGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.scope == "run")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """The documented table of every setting (``docs/settings.md``)."""
    lines = [
        "# Settings",
        "",
        "Generated by `python -m tools.settings_registry --markdown`; do not edit by hand.",
        "",
        "| Setting | Variable | CLI flag | Type | Default | Scope | Description |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = s.default_doc or ("" if s.default in (None, "") else repr(s.default))
        kind = "one of " + ", ".join(s.choices) if s.choices else s.kind
        lines.append(
            f"| `{s.name}` | `{s.env}` | {', '.join(f'`{f}`' for f in s.flags)} | {kind} | "
            f"{_cell(f'`{default}`' if default else '')} | {s.scope} | {_cell(s.description)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m tools.settings_registry --markdown")
    sys.stdout.write(markdown_table())
