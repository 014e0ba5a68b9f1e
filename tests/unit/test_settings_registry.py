"""The settings registry is the one source: Context, RetrievalSettings, CLI flags and docs agree with it."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from graphs.cli import build_parser
from graphs.context import Context
from tools.retrieval.settings import RetrievalSettings
from tools.settings_registry import BY_NAME, RUN_SETTINGS, SETTINGS, markdown_table, parse_bool

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)


def test_docs_file_is_the_generated_table() -> None:
    assert DOCS.read_text(encoding="utf-8") == markdown_table(), (
        "run: python -m tools.settings_registry --markdown"
    )


def test_context_fields_are_the_run_settings_with_their_descriptions() -> None:
    by_field = {f.name: f for f in fields(Context)}
    assert set(by_field) == {s.name for s in RUN_SETTINGS}
    for setting in RUN_SETTINGS:
        assert by_field[setting.name].metadata["description"] == setting.context_description()


def test_cli_flags_table_and_context_agree() -> None:
    actions = {a.dest: a for a in build_parser()._actions}
    table = DOCS.read_text(encoding="utf-8")
    for setting in RUN_SETTINGS:
        assert f"| `{setting.name}` | `{setting.env}` |" in table
        if setting.flags:
            assert setting.name in actions, setting.name
            assert set(setting.flags) <= set(actions[setting.name].option_strings)
            assert setting.description in (actions[setting.name].help or "").replace("%%", "%")
    flagged = {s.name for s in SETTINGS if s.flags}
    context_dests = {d for d in actions if d in {f.name for f in fields(Context)}}
    assert context_dests == flagged


def test_each_setting_has_one_default() -> None:
    ctx = Context()
    for setting in RUN_SETTINGS:
        if setting.name != "model":  # computed by the model factory, documented as default_doc
            assert getattr(ctx, setting.name) == setting.default, setting.name
    env = RetrievalSettings.from_env()
    assert env.k == ctx.retrieval_k == BY_NAME["retrieval_k"].default
    assert env.web == ctx.web_search
    assert env.web_timeout_s == BY_NAME["web_timeout_s"].default
    assert env.max_doc_bytes == BY_NAME["max_doc_bytes"].default
    assert RetrievalSettings(index_dir=Path("idx")).k == ctx.retrieval_k


def test_env_reaches_context_and_retrieval_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_RETRIEVAL_K", "9")
    monkeypatch.setenv("COUNCIL_WEB_SEARCH", "off")
    ctx = Context()
    env = RetrievalSettings.from_env()
    assert (ctx.retrieval_k, ctx.web_search) == (env.k, env.web) == (9, False)


def test_bad_env_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_MAX_ROUNDS", "lots")
    with pytest.raises(ValueError, match=r"^invalid value for \$COUNCIL_MAX_ROUNDS: 'lots'$"):
        Context()


@pytest.mark.parametrize(
    ("raw", "want"), [("yes", True), ("Y", True), ("是", True), ("off", False), ("否", False)]
)
def test_parse_bool_reads_every_spelling(raw: str, want: bool) -> None:
    assert parse_bool(raw, "x") is want


def test_parse_bool_rejects_others_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"^invalid value for web: 'maybe' \(expected on or off\)$"):
        parse_bool("maybe", "web")


def test_every_council_variable_in_the_code_is_declared() -> None:
    root = Path(__file__).resolve().parents[2]
    used = {
        name
        for package in ("agents", "graphs", "tools")
        for path in (root / package).rglob("*.py")
        for name in re.findall(r"COUNCIL_[A-Z_]+[A-Z]", path.read_text(encoding="utf-8"))
    }
    assert used, "the scan found no variables at all"
    assert used <= {s.env for s in SETTINGS}, sorted(used - {s.env for s in SETTINGS})
