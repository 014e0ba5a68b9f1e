"""Process settings: every consumer reads its value, default and parsing through the settings registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import tavily
from platformdirs import user_cache_dir, user_data_dir

from agents.models import openai_server
from agents.models.hf import decode_mode, engine, quantize
from agents.models.hf.embedded import model_cache_dir
from graphs import limits
from graphs.auth import load_keys
from graphs.checkpointing import DEFAULT_DB_NAME, _resolve_target
from tools.retrieval import retriever
from tools.retrieval.settings import DEFAULT_MAX_DOC_BYTES, RetrievalSettings, doc_collections
from tools.retrieval.web import search_web
from tools.settings_registry import BY_NAME, SETTINGS, Setting

ROOT = Path(__file__).resolve().parents[2]
PROCESS = tuple(s for s in SETTINGS if s.scope == "process")

# Read once at import by the engine and the decoder; a fresh interpreter with no
# COUNCIL_* variable shows what they fall back to.
_IMPORT_TIME_READS = """
import json
from agents.models.hf import decode, engine
print(json.dumps({
    "max_batch": engine.MAX_BATCH,
    "batch_window_ms": engine.BATCH_WINDOW_S * 1000,
    "hf_fast_decode": decode.FAST_DECODE,
}))
"""


@pytest.fixture(autouse=True)
def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture(scope="module")
def import_time_values() -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNCIL_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_TIME_READS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    values: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return values


def _tavily_base(monkeypatch: pytest.MonkeyPatch) -> str:
    """The API root `search_web` hands the Tavily client."""
    seen: list[str] = []

    class Client:
        def __init__(self, api_key: str, api_base_url: str, session: object) -> None:
            seen.append(api_base_url)
            raise RuntimeError("recorded")  # search_web turns this into a warning

    monkeypatch.setattr(tavily, "TavilyClient", Client)
    search_web("q", 1, 1.0, api_key="k")
    return seen[0]


Consumer = Callable[[pytest.MonkeyPatch, Path, dict[str, object]], list[object]]
#: What each consumer uses with its variable unset (every place that holds a default).
USED: dict[str, Consumer] = {
    "web_timeout_s": lambda mp, tmp, imp: [
        RetrievalSettings.from_env().web_timeout_s,
        RetrievalSettings(index_dir=tmp).web_timeout_s,
    ],
    "chroma_url": lambda mp, tmp, imp: [RetrievalSettings.from_env().chroma_url],
    "max_doc_bytes": lambda mp, tmp, imp: [
        RetrievalSettings.from_env().max_doc_bytes,
        RetrievalSettings(index_dir=tmp).max_doc_bytes,
        DEFAULT_MAX_DOC_BYTES,
    ],
    "doc_collections": lambda mp, tmp, imp: [doc_collections()],
    "db": lambda mp, tmp, imp: [_resolve_target(None)],
    "max_engines": lambda mp, tmp, imp: [engine.max_engines()],
    "max_retrievers": lambda mp, tmp, imp: [retriever.max_retrievers()],
    "max_batch": lambda mp, tmp, imp: [imp["max_batch"]],
    "batch_window_ms": lambda mp, tmp, imp: [imp["batch_window_ms"]],
    "hf_fast_decode": lambda mp, tmp, imp: [imp["hf_fast_decode"]],
    "hf_decode": lambda mp, tmp, imp: [decode_mode.wanted_mode()],
    "hf_quantize": lambda mp, tmp, imp: [quantize.default_quantize()],
    "model_cache": lambda mp, tmp, imp: [model_cache_dir()],
    "tavily_base_url": lambda mp, tmp, imp: [_tavily_base(mp)],
    "api_keys": lambda mp, tmp, imp: [load_keys()],
    "api_keys_file": lambda mp, tmp, imp: [load_keys()],
    "allowed_models": lambda mp, tmp, imp: [limits._items("allowed_models")],
    "allowed_experts_urls": lambda mp, tmp, imp: [limits._items("allowed_experts_urls")],
    "allowed_openai_base_urls": lambda mp, tmp, imp: [limits._items("allowed_openai_base_urls")],
    "openai_api_key": lambda mp, tmp, imp: [openai_server._api_key()],
}
#: What a consumer makes of an empty default: nothing configured, or a value computed at run time.
EMPTY_MEANS: dict[str, Callable[[], object]] = {
    "doc_collections": dict,
    "db": lambda: Path(user_data_dir("compliance-council", appauthor=False)) / DEFAULT_DB_NAME,
    "model_cache": lambda: Path(user_cache_dir("compliance-council")) / "models",
    "api_keys": dict,  # an open server
    "api_keys_file": dict,
    "allowed_models": list,  # only the operator's own
    "allowed_experts_urls": list,
    "allowed_openai_base_urls": list,
    "openai_api_key": lambda: "no-key",  # then OPENAI_API_KEY, then the dummy a local server takes
}


def test_every_process_setting_has_its_consumer_listed() -> None:
    assert set(USED) == {s.name for s in PROCESS}
    assert set(EMPTY_MEANS) == {s.name for s in PROCESS if s.default == ""}


@pytest.mark.parametrize("setting", PROCESS, ids=lambda s: s.name)
def test_the_consumer_uses_the_registry_default_when_unset(
    setting: Setting,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    import_time_values: dict[str, object],
) -> None:
    expected = EMPTY_MEANS[setting.name]() if setting.default == "" else setting.default
    used = USED[setting.name](monkeypatch, tmp_path, import_time_values)
    assert used == [expected] * len(used)


def test_a_set_value_reaches_the_consumers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COUNCIL_MAX_ENGINES", " 7 ")
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", "3")
    monkeypatch.setenv("COUNCIL_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("COUNCIL_TAVILY_BASE_URL", "http://gateway.internal:9000/tavily/")
    monkeypatch.setenv("COUNCIL_ALLOWED_MODELS", "hf/a, ollama/b,")
    monkeypatch.setenv("COUNCIL_OPENAI_API_KEY", "sk-council")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other")
    assert (engine.max_engines(), retriever.max_retrievers()) == (7, 3)
    assert model_cache_dir() == tmp_path / "models"
    assert _tavily_base(monkeypatch) == "http://gateway.internal:9000/tavily"
    assert limits._items("allowed_models") == ["hf/a", "ollama/b"]
    assert openai_server._api_key() == "sk-council"
    monkeypatch.delenv("COUNCIL_OPENAI_API_KEY")
    assert openai_server._api_key() == "sk-other"


# -- bounds: blank is unset, anything but a positive integer is one line --------------------


def test_a_bound_reads_default_blank_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    setting = BY_NAME["max_retrievers"]
    assert setting.from_env() == 4
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", "  ")
    assert setting.from_env() == 4
    monkeypatch.setenv("COUNCIL_MAX_RETRIEVERS", " 7 ")
    assert setting.from_env() == 7


@pytest.mark.parametrize("name", ["max_engines", "max_retrievers", "max_batch"])
@pytest.mark.parametrize("raw", ["x", "0", "-1", "1.5", "two", "1e3"])
def test_a_bound_rejects_anything_but_a_positive_integer(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    setting = BY_NAME[name]
    monkeypatch.setenv(setting.env, raw)
    with pytest.raises(ValueError) as info:
        setting.from_env()
    assert str(info.value) == f"invalid value for ${setting.env}: {raw!r} (expected a positive integer)"


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        (
            "batch_window_ms",
            "soon",
            "invalid value for $COUNCIL_BATCH_WINDOW_MS: 'soon' (expected a number of milliseconds)",
        ),
        (
            "hf_fast_decode",
            "maybe",
            "invalid value for $COUNCIL_HF_FAST_DECODE: 'maybe' (expected on or off)",
        ),
        (
            "hf_decode",
            "Static",
            "invalid value for $COUNCIL_HF_DECODE: 'Static' (expected auto, dynamic or static)",
        ),
        (
            "web_timeout_s",
            "soon",
            "invalid value for $COUNCIL_WEB_TIMEOUT: 'soon' (expected a number of seconds)",
        ),
        (
            "max_doc_bytes",
            "2 parsecs",
            "invalid value for $COUNCIL_MAX_DOC_BYTES: '2 parsecs' "
            "(expected a size in bytes such as 2000000 or 2M)",
        ),
    ],
)
def test_a_bad_value_is_one_line_saying_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, message: str
) -> None:
    monkeypatch.setenv(BY_NAME[name].env, raw)
    with pytest.raises(ValueError) as info:
        BY_NAME[name].from_env()
    assert str(info.value) == message


@pytest.mark.parametrize(("raw", "want"), [("0", False), ("off", False), ("1", True), ("on", True)])
def test_fast_decode_is_an_on_off_switch(monkeypatch: pytest.MonkeyPatch, raw: str, want: bool) -> None:
    monkeypatch.setenv("COUNCIL_HF_FAST_DECODE", raw)
    assert BY_NAME["hf_fast_decode"].from_env() is want
