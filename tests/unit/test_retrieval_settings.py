"""RetrievalSettings: env defaults, context fallback, validation that names the bad value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.retrieval.settings import RetrievalSettings, default_index_dir

ENV = (
    "COUNCIL_INDEX_DIR",
    "COUNCIL_DOCS_DIR",
    "COUNCIL_RETRIEVAL_K",
    "COUNCIL_WEB_SEARCH",
    "COUNCIL_WEB_TIMEOUT",
    "COUNCIL_CHROMA_URL",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_env_defaults():
    s = RetrievalSettings.from_env()
    assert s.index_dir == default_index_dir().absolute()
    assert s.index_dir.parts[-2:] == ("compliance-council", "index")
    assert (s.docs_dir, s.k, s.web, s.web_timeout_s, s.chroma_url) == (None, 6, True, 10.0, None)


def test_env_values(monkeypatch, tmp_path):
    monkeypatch.setenv("COUNCIL_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setenv("COUNCIL_DOCS_DIR", str(tmp_path))
    monkeypatch.setenv("COUNCIL_RETRIEVAL_K", " 7 ")
    monkeypatch.setenv("COUNCIL_WEB_SEARCH", "OFF")
    monkeypatch.setenv("COUNCIL_WEB_TIMEOUT", "2.5")
    monkeypatch.setenv("COUNCIL_CHROMA_URL", "http://chroma.internal:8000")
    s = RetrievalSettings.from_env()
    assert s == RetrievalSettings(
        index_dir=tmp_path / "idx", docs_dir=tmp_path, k=7, web=False, web_timeout_s=2.5,
        chroma_url="http://chroma.internal:8000",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COUNCIL_RETRIEVAL_K", "three"),
        ("COUNCIL_RETRIEVAL_K", "0"),
        ("COUNCIL_RETRIEVAL_K", "51"),
        ("COUNCIL_WEB_SEARCH", "maybe"),
        ("COUNCIL_WEB_TIMEOUT", "soon"),
        ("COUNCIL_WEB_TIMEOUT", "-1"),
        ("COUNCIL_CHROMA_URL", "chroma:8000"),
    ],
)
def test_bad_env_values_raise_naming_them(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=r"invalid value for") as info:
        RetrievalSettings.from_env()
    assert value.strip() in str(info.value)


@dataclass
class Context:
    index_dir: str = ""
    docs_dir: str = ""
    retrieval_k: int | None = None
    web_search: bool | None = None


def test_context_values_win_and_empty_ones_fall_back_to_env(monkeypatch, tmp_path):
    monkeypatch.setenv("COUNCIL_RETRIEVAL_K", "5")
    monkeypatch.setenv("COUNCIL_INDEX_DIR", str(tmp_path / "env-idx"))
    s = RetrievalSettings.from_context(Context(docs_dir=str(tmp_path), web_search=False))
    assert (s.index_dir, s.docs_dir, s.k, s.web) == (tmp_path / "env-idx", tmp_path, 5, False)
    s = RetrievalSettings.from_context(Context(index_dir=str(tmp_path / "ctx"), retrieval_k=9))
    assert (s.index_dir, s.docs_dir, s.k, s.web) == (tmp_path / "ctx", None, 9, True)


def test_any_object_works_as_context(tmp_path):
    class Bare:
        pass

    assert RetrievalSettings.from_context(Bare()) == RetrievalSettings.from_env()
    assert RetrievalSettings.from_context(None) == RetrievalSettings.from_env()
    assert RetrievalSettings.from_context({"retrieval_k": 8, "docs_dir": str(tmp_path)}).k == 8


@pytest.mark.parametrize(
    ("context", "name"),
    [(Context(retrieval_k=0), "retrieval_k"), (Context(web_search="sometimes"), "web_search")],  # type: ignore[arg-type]
)
def test_bad_context_values_raise_naming_the_attribute(context, name):
    with pytest.raises(ValueError, match=name):
        RetrievalSettings.from_context(context)


def test_settings_are_normalised_hashable_and_validated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = RetrievalSettings(index_dir=Path("idx"), k="4", web="on")  # type: ignore[arg-type]
    b = RetrievalSettings(index_dir=tmp_path / "idx", k=4)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(ValueError, match="k"):
        RetrievalSettings(index_dir=tmp_path, k=True)
    with pytest.raises(ValueError, match="index_dir"):
        RetrievalSettings(index_dir="  ")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="web_timeout_s"):
        RetrievalSettings(index_dir=tmp_path, web_timeout_s=0)
